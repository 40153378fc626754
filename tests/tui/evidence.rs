//! The dataset pane's evidence: a picked model explains the selected contract on a worker,
//! the viewer shades its lines, `n` walks them from the hottest, and answers are cached.

use super::fixtures::app;
use alambic::tui::panes::draw;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::path::PathBuf;
use std::time::Duration;

#[test]
fn a_picked_model_shades_the_contract_and_n_walks_its_hottest_lines() {
    let (mut app, _) = app(true);
    // Any model source explains; a scratch model needs no training (its verdict is noise,
    // its line scores still sum the contract's evidence).
    let model = PathBuf::from(format!(
        "scratch:bert-tiny?tokenizer={}/data/demo/tokenizer.json",
        env!("CARGO_MANIFEST_DIR")
    ));
    app.dataset.evidence.cycle_run(std::slice::from_ref(&model));
    assert_eq!(app.dataset.evidence.run.as_ref(), Some(&model));
    let id = app.dataset.current().expect("a contract").id.clone();
    let code = app.dataset.current().expect("a contract").code.clone();
    app.dataset.evidence.request(&id, &code);
    app.dataset.evidence.wait(Duration::from_secs(60));
    let e = app
        .dataset
        .evidence
        .get(&id)
        .expect("answered")
        .clone()
        .expect("explained");
    assert_eq!(e.scores.len(), code.lines().count());
    assert!(!e.ranked.is_empty());
    // Ranked lines are read lines, best first.
    for w in e.ranked.windows(2) {
        assert!(e.scores[w[0] - 1] >= e.scores[w[1] - 1]);
    }
    // `n` scrolls to the hottest line, then the next; the title says which.
    app.dataset.next_hot_line();
    assert_eq!(app.dataset.evidence.hot, Some(0));
    assert_eq!(app.dataset.viewer_scroll, e.ranked[0].saturating_sub(4));
    app.dataset.next_hot_line();
    assert_eq!(app.dataset.evidence.hot, Some(1));
    let mut terminal = Terminal::new(TestBackend::new(140, 40)).expect("terminal");
    terminal.draw(|f| draw(f, &app)).expect("draw");
    let text = terminal.backend().to_string();
    assert!(
        text.contains(&format!("hot #2 line {}", e.ranked[1])),
        "{text}"
    );
    // The hottest line's gutter carries the top mark, in ASCII.
    assert!(text.contains("# "), "{text}");
    // A second request is served from the cache: nothing pending, same answer.
    app.dataset.evidence.request(&id, &code);
    app.dataset.evidence.poll();
    assert_eq!(app.dataset.evidence.get(&id).cloned(), Some(Ok(e)));
    // m again: no evidence.
    app.dataset.evidence.cycle_run(std::slice::from_ref(&model));
    assert!(app.dataset.evidence.run.is_none());
}

#[test]
fn scrolling_past_contracts_explains_the_one_the_user_stops_at() {
    let (mut app, _) = app(true);
    let model = PathBuf::from(format!(
        "scratch:bert-tiny?tokenizer={}/data/demo/tokenizer.json",
        env!("CARGO_MANIFEST_DIR")
    ));
    app.dataset.evidence.cycle_run(std::slice::from_ref(&model));
    let contracts: Vec<(String, String)> = app.dataset.loaded.as_ref().expect("loaded").contracts
        [..6]
        .iter()
        .map(|c| (c.id.clone(), c.code.clone()))
        .collect();
    for (id, code) in &contracts {
        app.dataset.evidence.request(id, code);
    }
    app.dataset.evidence.wait(Duration::from_secs(60));
    let (last, _) = contracts.last().expect("six");
    assert!(matches!(app.dataset.evidence.get(last), Some(Ok(_))));
    // Whatever was skipped is asked again when the user comes back, and answered.
    let (first, code) = &contracts[0];
    app.dataset.evidence.request(first, code);
    app.dataset.evidence.wait(Duration::from_secs(60));
    assert!(matches!(app.dataset.evidence.get(first), Some(Ok(_))));
}
