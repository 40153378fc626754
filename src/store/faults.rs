//! Fault injection for crash-safety tests: a test arms a named point on its own thread, and the
//! store's writer stops there with an error, leaving the disk exactly as a crash at that point
//! would (nothing after it runs). Unarmed, a point costs one thread-local read.

use std::cell::RefCell;

thread_local! {
    static ARMED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Makes the next `point(name)` on this thread fail (tests only).
#[doc(hidden)]
pub fn arm(name: &str) {
    ARMED.with(|a| *a.borrow_mut() = Some(name.to_string()));
}

#[doc(hidden)]
pub fn disarm() {
    ARMED.with(|a| *a.borrow_mut() = None);
}

/// A point a crash may hit: an error if a test armed it (then disarmed), else nothing.
pub fn point(name: &str) -> std::io::Result<()> {
    let hit = ARMED.with(|a| {
        let mut a = a.borrow_mut();
        if a.as_deref() == Some(name) {
            *a = None;
            true
        } else {
            false
        }
    });
    if hit {
        return Err(std::io::Error::other(format!("injected crash at `{name}`")));
    }
    Ok(())
}
