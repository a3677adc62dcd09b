"""A real SMTP server on loopback for the cloud's mail tests (aiosmtpd).

Usage: smtp_sink.py DIR [REFUSE_FIRST [CODE]]

Listens on 127.0.0.1 on a free port and prints the port as one line once it accepts. Each
message is written to DIR as NNNN.json ({"mail_from", "rcpt_tos", "to", "from", "subject",
"body"}, the body decoded from its transfer encoding), atomically (written, then renamed). The
first REFUSE_FIRST messages are refused at DATA with CODE (default 451, a transient error);
every DATA is logged with its time in DIR/attempts.log. Exits when its stdin closes (the test
process ended or dropped it).
"""

import asyncio
import email
import email.policy
import json
import os
import sys
import time

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, out, refuse_first, code):
        self.out = out
        self.refuse_first = refuse_first
        self.code = code
        self.seen = 0

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        with open(os.path.join(self.out, "attempts.log"), "a") as log:
            log.write(f"{time.time()}\n")
        if self.seen <= self.refuse_first:
            return f"{self.code} {self.code // 100}.3.0 Refused by the test sink"
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "to": str(message["To"]),
            "from": str(message["From"]),
            "subject": str(message["Subject"]),
            "content_type": message.get_content_type(),
            "body": message.get_content(),
        }
        path = os.path.join(self.out, f"{self.seen:04d}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 OK"


async def main():
    out = sys.argv[1]
    refuse_first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    code = int(sys.argv[3]) if len(sys.argv) > 3 else 451
    sink = Sink(out, refuse_first, code)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, hostname="sink.test"), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


asyncio.run(main())
