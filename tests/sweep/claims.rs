//! Claims: one owner at a time, released claims free at once, stale ones taken over.

use crate::common::scratch_dir;
use alambic::sweep::claim::{Attempt, ClaimInfo, try_claim};

#[test]
fn a_claim_has_one_owner_and_a_stale_one_is_taken_over() {
    let dir = scratch_dir("claims");
    let first = match try_claim(&dir, "cell-000", 600.0).expect("claim") {
        Attempt::Claimed(c) => c,
        _ => panic!("a fresh name is claimed"),
    };
    // While held (the lock is kept), nobody else gets it, however old its heartbeat.
    match try_claim(&dir, "cell-000", 0.001).expect("second") {
        Attempt::Held(Some(owner)) => assert_eq!(owner.pid, std::process::id()),
        _ => panic!("a held claim is not given twice"),
    }
    // Let go in good order: free at once.
    drop(first);
    assert!(matches!(
        try_claim(&dir, "cell-000", 600.0).expect("again"),
        Attempt::Claimed(_)
    ));

    // A crashed owner: nobody holds the lock, but its heartbeat is recent: not yet stale.
    let crashed = ClaimInfo {
        pid: 999_999,
        host: "elsewhere".into(),
        claimed: alambic::store::run_dir::now() - 5.0,
        heartbeat: alambic::store::run_dir::now() - 5.0,
    };
    std::fs::write(
        dir.join("cell-001.lock"),
        serde_json::to_string(&crashed).expect("json"),
    )
    .expect("write");
    assert!(matches!(
        try_claim(&dir, "cell-001", 600.0).expect("recent"),
        Attempt::Held(Some(_))
    ));
    // Older than the timeout: taken over, with the previous owner reported.
    match try_claim(&dir, "cell-001", 2.0).expect("stale") {
        Attempt::TakenOver(_claim, Some(previous)) => assert_eq!(previous, crashed),
        _ => panic!("a stale claim is taken over"),
    }
}
