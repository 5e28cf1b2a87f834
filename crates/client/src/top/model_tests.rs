//! Unit tests for `model.rs` (a child module of it; see the `#[path]` there).

use super::*;

fn nodes() -> Vec<NodeAddr> {
    ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(i, n)| NodeAddr {
            name: format!("{n}.cfg"),
            addr: format!("127.0.0.1:800{i}"),
        })
        .collect()
}

fn up(id: &str, requests: f64, hits: f64, misses: f64) -> Result<NodeData, String> {
    Ok(NodeData {
        id: Some(id.to_string()),
        counters: Counters {
            requests,
            hits,
            misses,
            entries: 10.0,
            bytes: 1000.0,
            p99: Some(0.002),
            ..Counters::default()
        },
        ring_share: Some(1.0 / 3.0),
        sees_down: Vec::new(),
    })
}

fn at(t0: Instant, ms: u64, results: Vec<Result<NodeData, String>>) -> Vec<Scrape> {
    let at = t0 + Duration::from_millis(ms);
    results
        .into_iter()
        .map(|result| Scrape { at, result })
        .collect()
}

#[test]
fn rates_are_deltas_over_the_injected_elapsed_time() {
    assert_eq!(rate(100.0, 300.0, Duration::from_millis(500)), Some(400.0));
    assert_eq!(rate(100.0, 100.0, Duration::from_secs(1)), Some(0.0));
    assert_eq!(rate(300.0, 100.0, Duration::from_secs(1)), None, "restart");
    assert_eq!(rate(1.0, 2.0, Duration::ZERO), None);
}

fn row<'a>(f: &'a Frame, name: &str) -> &'a Row {
    f.rows.iter().find(|r| r.name == name).expect("row")
}

#[test]
fn first_scrape_has_no_rates_second_has() {
    let t0 = Instant::now();
    let mut m = Model::new(nodes());
    let s0 = vec![
        up("n1", 0.0, 0.0, 0.0),
        up("n2", 0.0, 0.0, 0.0),
        Err("refused".into()),
    ];
    let f = m.update(&at(t0, 0, s0), SortKey::Name);
    let names: Vec<&str> = f.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["c.cfg", "n1", "n2"],
        "the node's own id wins over the config name"
    );
    assert_eq!(row(&f, "n1").req_s, None);
    assert_eq!(row(&f, "c.cfg").state, State::Down);
    assert_eq!(f.nodes_up, 2);

    let s1 = vec![
        up("n1", 200.0, 30.0, 10.0),
        up("n2", 100.0, 0.0, 0.0),
        Err("refused".into()),
    ];
    let f = m.update(&at(t0, 2000, s1), SortKey::Name);
    let n1 = row(&f, "n1");
    assert_eq!(n1.req_s, Some(100.0));
    assert_eq!(n1.hit_ratio(), Some(0.75));
    assert_eq!(row(&f, "n2").req_s, Some(50.0));
    assert_eq!(
        row(&f, "n2").hit_ratio(),
        None,
        "no lookups in the interval"
    );
    assert_eq!(f.total.req_s, Some(150.0));
    assert_eq!(f.total.hit_ratio(), Some(0.75));
    assert_eq!(f.total.entries, Some(20.0));
    assert_eq!(f.total.p99, Some(0.002));
    assert_eq!(f.total.addr, "2/3 up");
    assert_eq!(f.total.state, State::Degraded);
}

#[test]
fn a_node_that_comes_back_starts_its_rates_over() {
    let t0 = Instant::now();
    let mut m = Model::new(nodes()[..1].to_vec());
    m.update(&at(t0, 0, vec![up("n1", 500.0, 0.0, 0.0)]), SortKey::Name);
    let f = m.update(&at(t0, 1000, vec![Err("timeout".into())]), SortKey::Name);
    assert_eq!(
        f.rows[0].name, "n1",
        "a down node keeps the id it answered with"
    );
    let f = m.update(&at(t0, 2000, vec![up("n1", 10.0, 0.0, 0.0)]), SortKey::Name);
    assert_eq!(f.rows[0].state, State::Up);
    assert_eq!(f.rows[0].req_s, None);
    let f = m.update(&at(t0, 3000, vec![up("n1", 20.0, 0.0, 0.0)]), SortKey::Name);
    assert_eq!(f.rows[0].req_s, Some(10.0));
}

#[test]
fn states() {
    let t0 = Instant::now();
    let mut m = Model::new(nodes()[..2].to_vec());
    let mut a = up("n1", 0.0, 0.0, 0.0).unwrap();
    a.sees_down = vec!["n2".into()];
    let mut b = up("n2", 0.0, 0.0, 0.0).unwrap();
    b.counters.draining = true;
    let f = m.update(&at(t0, 0, vec![Ok(a.clone()), Ok(b)]), SortKey::Name);
    assert_eq!(
        f.rows[1].state,
        State::Draining,
        "draining wins over suspect"
    );
    let f = m.update(
        &at(t0, 1, vec![Ok(a), up("n2", 0.0, 0.0, 0.0)]),
        SortKey::Name,
    );
    assert_eq!(f.rows[1].state, State::Suspect);
    assert_eq!(f.rows[0].state, State::Up);
}

#[test]
fn sort_keys_cycle_and_order_rows() {
    let mut k = SortKey::Name;
    let mut seen = vec![k];
    loop {
        k = k.next();
        if k == SortKey::Name {
            break;
        }
        seen.push(k);
    }
    assert_eq!(seen.len(), 7);

    let t0 = Instant::now();
    let mut m = Model::new(nodes());
    let s0 = vec![
        up("n1", 0.0, 0.0, 0.0),
        up("n2", 0.0, 0.0, 0.0),
        Err("x".into()),
    ];
    m.update(&at(t0, 0, s0), SortKey::Name);
    let s1 = vec![
        up("n1", 10.0, 0.0, 0.0),
        up("n2", 30.0, 0.0, 0.0),
        Err("x".into()),
    ];
    let f = m.update(&at(t0, 1000, s1), SortKey::Requests);
    let names: Vec<&str> = f.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["n2", "n1", "c.cfg"], "busiest first, down last");
}
