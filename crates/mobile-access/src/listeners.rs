//! Who hears the button's states and requirements, and how: a listener hears the value at once
//! when it is added, then every later value, each once and in the order they were set.
//!
//! Why a queue per listener: a listener used to read the current state, then join the list. A
//! tap that set a state between those two steps was never heard by it: a Kotlin flow added just
//! before a tap saw `Hidden`, then `DownloadingKey`, never `Validating`. Now setting a value and
//! queueing it for every listener is one step under one lock, and so are reading the value and
//! joining the list. Listeners are told outside the lock (their code may call back into the
//! button, even add a listener), by one thread at a time per listener, so two values set at
//! once from two threads still reach each listener in the order they were set.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard, Weak},
};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A value and the listeners that hear it, held weakly (a listener that refers to the button
/// never keeps it alive).
pub(crate) struct Topic<L: ?Sized, T> {
    inner: Mutex<Inner<L, T>>,
    /// How a listener is told a value.
    tell: fn(&L, T),
}

struct Inner<L: ?Sized, T> {
    current: T,
    subscribers: Vec<Subscriber<L, T>>,
}

struct Subscriber<L: ?Sized, T> {
    id: u64,
    listener: Weak<L>,
    mailbox: Arc<Mutex<Mailbox<T>>>,
}

/// The values a listener has not been told yet, and whether a thread is telling it now.
struct Mailbox<T> {
    pending: VecDeque<T>,
    telling: bool,
}

/// Clears a mailbox's `telling` if the listener panicked, so it is told again next time.
struct Telling<'a, T>(&'a Mutex<Mailbox<T>>);

impl<T> Drop for Telling<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            lock(self.0).telling = false;
        }
    }
}

impl<L: ?Sized, T: Clone + PartialEq> Topic<L, T> {
    /// No listener yet, `initial` the value.
    pub(crate) fn new(initial: T, tell: fn(&L, T)) -> Self {
        Self { inner: Mutex::new(Inner { current: initial, subscribers: Vec::new() }), tell }
    }

    /// The value as last set.
    pub(crate) fn current(&self) -> T {
        lock(&self.inner).current.clone()
    }

    /// Sets the value and tells every listener, even when it equals the last one.
    pub(crate) fn publish(&self, value: T) {
        self.set(value, true);
    }

    /// Sets the value and tells every listener, unless it equals the last one; whether it did.
    pub(crate) fn publish_if_changed(&self, value: T) -> bool {
        self.set(value, false)
    }

    /// Adds `listener` as number `id`: it is told the current value, then every later one, for
    /// as long as it lives or until [`Topic::unsubscribe`].
    pub(crate) fn subscribe(&self, id: u64, listener: &Arc<L>) {
        let listener = Arc::downgrade(listener);
        let mailbox = Arc::new(Mutex::new(Mailbox { pending: VecDeque::new(), telling: false }));
        {
            let mut inner = lock(&self.inner);
            lock(&mailbox).pending.push_back(inner.current.clone());
            inner.subscribers.retain(|s| s.listener.strong_count() > 0);
            inner.subscribers.push(Subscriber { id, listener: listener.clone(), mailbox: Arc::clone(&mailbox) });
        }
        self.tell_pending(&listener, &mailbox);
    }

    /// Removes listener number `id`: nothing set from now on reaches it.
    pub(crate) fn unsubscribe(&self, id: u64) {
        lock(&self.inner).subscribers.retain(|s| s.id != id);
    }

    fn set(&self, value: T, always: bool) -> bool {
        let targets: Vec<_> = {
            let mut inner = lock(&self.inner);
            if !always && inner.current == value {
                return false;
            }
            inner.current = value.clone();
            inner.subscribers.retain(|s| s.listener.strong_count() > 0);
            inner
                .subscribers
                .iter()
                .map(|s| {
                    lock(&s.mailbox).pending.push_back(value.clone());
                    (s.listener.clone(), Arc::clone(&s.mailbox))
                })
                .collect()
        };
        for (listener, mailbox) in targets {
            self.tell_pending(&listener, &mailbox);
        }
        true
    }

    /// Tells `listener` what waits in its mailbox, in order, unless another thread is already
    /// doing so (that thread then tells it this value too, after the ones before it).
    fn tell_pending(&self, listener: &Weak<L>, mailbox: &Mutex<Mailbox<T>>) {
        {
            let mut mailbox = lock(mailbox);
            if mailbox.telling {
                return;
            }
            mailbox.telling = true;
        }
        let _guard = Telling(mailbox);
        loop {
            let next = {
                let mut mailbox = lock(mailbox);
                match mailbox.pending.pop_front() {
                    Some(value) => value,
                    None => {
                        mailbox.telling = false;
                        return;
                    }
                }
            };
            if let Some(listener) = listener.upgrade() {
                (self.tell)(&listener, next);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    trait Hear: Send + Sync {
        fn hear(&self, value: u32);
    }

    #[derive(Default)]
    struct Heard(Mutex<Vec<u32>>);

    impl Hear for Heard {
        fn hear(&self, value: u32) {
            lock(&self.0).push(value);
        }
    }

    fn topic() -> Arc<Topic<dyn Hear, u32>> {
        Arc::new(Topic::new(0, Hear::hear))
    }

    /// The race that lost `Validating`: listeners joining while another thread sets values
    /// each hear the value current when they joined, then every later one, in order, none
    /// missed. Without the joint step a joiner could hear 0, then skip to 2.
    #[test]
    fn a_listener_joining_while_values_are_set_hears_each_later_value_in_order() {
        for _ in 0..200 {
            let topic = topic();
            let setter = {
                let topic = Arc::clone(&topic);
                std::thread::spawn(move || {
                    for value in 1..=50 {
                        topic.publish(value);
                    }
                })
            };
            let listeners: Vec<Arc<Heard>> = (0..4).map(|_| Arc::new(Heard::default())).collect();
            for (id, listener) in listeners.iter().enumerate() {
                // `listeners` keeps each alive; the topic holds it weakly.
                topic.subscribe(id as u64, &(Arc::clone(listener) as Arc<dyn Hear>));
            }
            setter.join().unwrap();
            for listener in &listeners {
                let heard = lock(&listener.0).clone();
                let first = heard[0];
                let expected: Vec<u32> = (first..=50).collect();
                assert_eq!(heard, expected, "each value from the one current at joining, once, in order");
            }
        }
    }

    #[test]
    fn an_unchanged_value_is_not_told_again_unless_published_anyway() {
        let topic = topic();
        let listener = Arc::new(Heard::default());
        let as_dyn: Arc<dyn Hear> = Arc::clone(&listener) as Arc<dyn Hear>;
        topic.subscribe(1, &as_dyn);
        assert!(!topic.publish_if_changed(0));
        assert!(topic.publish_if_changed(7));
        topic.publish(7);
        topic.unsubscribe(1);
        topic.publish(8);
        assert_eq!(*lock(&listener.0), vec![0, 7, 7]);
        assert_eq!(topic.current(), 8);
    }

    #[test]
    fn a_dropped_listener_is_told_nothing_and_leaves_the_list() {
        let topic = topic();
        let as_dyn: Arc<dyn Hear> = Arc::new(Heard::default());
        topic.subscribe(1, &as_dyn);
        drop(as_dyn);
        topic.publish(3);
        assert!(lock(&topic.inner).subscribers.is_empty());
    }
}
