//! The library's own async runtime. Swift and Kotlin drive the futures uniffi hands them, but the
//! SDK's work (BLE scanning, timers, virtual readers) needs tokio: every async export spawns its
//! work here and awaits the result, which any executor can do. Created on first use; it lives as
//! long as the process.

use std::{future::Future, sync::OnceLock};

use tokio::runtime::{Builder, Runtime};

use crate::MobileAccessError;

static RUNTIME: OnceLock<std::io::Result<Runtime>> = OnceLock::new();

/// The runtime, started on first use.
pub(crate) fn get() -> Result<&'static Runtime, MobileAccessError> {
    RUNTIME
        .get_or_init(|| Builder::new_multi_thread().worker_threads(2).thread_name("mobile-access").enable_all().build())
        .as_ref()
        .map_err(|e| MobileAccessError::internal(format!("could not start the SDK's runtime: {e}")))
}

/// Runs `future` on the runtime and waits for it. A panic inside becomes
/// [`MobileAccessError::Internal`] rather than crossing into the app.
pub(crate) async fn run<T, F>(future: F) -> Result<T, MobileAccessError>
where
    F: Future<Output = Result<T, MobileAccessError>> + Send + 'static,
    T: Send + 'static,
{
    match get()?.spawn(future).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => Err(MobileAccessError::internal("the SDK failed unexpectedly (a bug)")),
        Err(_) => Err(MobileAccessError::internal("the SDK's runtime shut down")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[test]
    fn work_runs_on_the_owned_runtime_from_any_executor() {
        // A plain executor with no tokio context, as Kotlin's and Swift's are.
        let answer = futures_executor(run(async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            Ok(42)
        }));
        assert_eq!(answer.unwrap(), 42);
    }

    #[test]
    fn a_panic_becomes_an_internal_error() {
        let result: Result<(), _> = futures_executor(run(async { panic!("bug") }));
        assert!(matches!(result, Err(MobileAccessError::Internal { .. })), "{result:?}");
    }

    /// Polls a future to completion on this thread, without tokio.
    fn futures_executor<F: Future>(future: F) -> F::Output {
        use std::{
            pin::pin,
            sync::Arc,
            task::{Context, Poll, Wake},
        };
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Arc::new(Unpark(std::thread::current())).into();
        let mut context = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return output;
            }
            std::thread::park();
        }
    }
}
