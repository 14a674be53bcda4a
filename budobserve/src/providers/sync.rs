//! What the proxies' shared state is guarded with: a lock that survives a panic, and a self-pruning list of weak
//! references.

use std::sync::{Mutex, MutexGuard, Weak};

/// Locks a mutex, recovering the data if a thread panicked while holding it: the proxies' state stays valid at every
/// step, so a poisoned lock never has to break the host.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A list of weak references that drops dead entries as it grows, so handing out slots in a loop stays bounded.
#[derive(Debug)]
pub(crate) struct WeakList<T> {
    items: Vec<Weak<T>>,
    prune_at: usize,
}

impl<T> Default for WeakList<T> {
    fn default() -> Self {
        WeakList { items: Vec::new(), prune_at: 64 }
    }
}

impl<T> WeakList<T> {
    pub(crate) fn push(&mut self, item: Weak<T>) {
        if self.items.len() >= self.prune_at {
            self.items.retain(|weak| weak.strong_count() > 0);
            self.prune_at = (self.items.len() * 2).max(64);
        }
        self.items.push(item);
    }

    pub(crate) fn live(&self) -> impl Iterator<Item = std::sync::Arc<T>> + '_ {
        self.items.iter().filter_map(Weak::upgrade)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn weak_list_prunes_dead_entries() {
        let mut list = WeakList::default();
        let keep = Arc::new(0);
        list.push(Arc::downgrade(&keep));
        for i in 0..1000 {
            let temp = Arc::new(i);
            list.push(Arc::downgrade(&temp));
        }
        assert!(list.len() <= 128, "list grew to {}", list.len());
        assert_eq!(list.live().count(), 1);
    }
}
