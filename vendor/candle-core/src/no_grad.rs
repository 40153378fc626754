//! Alambic patch (see PATCHES.md): a per-thread switch that stops recording the backprop
//! graph, as PyTorch's `torch.no_grad()`. While a `NoGradGuard` lives, ops on variables record
//! no parents, so each intermediate tensor is freed as soon as the caller drops it instead
//! of living, through the graph, as long as the last output.

use std::cell::Cell;

thread_local! {
    static NO_GRAD: Cell<bool> = const { Cell::new(false) };
}

/// Whether ops on this thread record the backprop graph.
pub fn grad_enabled() -> bool {
    !NO_GRAD.with(Cell::get)
}

/// Stops recording the graph on this thread until the guard is dropped (guards nest).
#[must_use = "the graph is recorded again as soon as the guard is dropped"]
pub struct NoGradGuard {
    previous: bool,
}

pub fn no_grad() -> NoGradGuard {
    NoGradGuard {
        previous: NO_GRAD.with(|c| c.replace(true)),
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        NO_GRAD.with(|c| c.set(self.previous));
    }
}
