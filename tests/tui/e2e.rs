//! The real binary in tmux (added when the end-to-end tests land).
