use super::*;

fn three() -> Membership {
    let nodes: Vec<(String, String)> = [("n3", "h:3"), ("n1", "h:1"), ("n2", "h:2")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    Membership::initial(&nodes, 50)
}

#[test]
fn the_initial_document_is_sorted_active_and_settled_at_epoch_0() {
    let d = three();
    assert_eq!(d.epoch, 0);
    assert!(d.is_settled());
    assert_eq!(d.ring_ids(), vec!["n1", "n2", "n3"]);
    assert!(d.members.iter().all(|m| m.status == Status::Active));
    assert_eq!(d.formed().epoch, 1);
}

#[test]
fn a_join_is_two_epochs_and_one_change_at_a_time() {
    let d = three().formed();
    let j = d.with_join("n4", "h:4").unwrap().unwrap();
    assert_eq!(j.epoch, 2);
    assert_eq!(j.member("n4").unwrap().status, Status::Joining);
    assert_eq!(
        j.previous.as_deref(),
        Some(&["n1".to_string(), "n2".into(), "n3".into()][..])
    );
    assert_eq!(j.ring_ids(), vec!["n1", "n2", "n3", "n4"]);
    // Asking again is not another change; another node must wait for the settle.
    assert_eq!(j.with_join("n4", "h:4"), Ok(None));
    assert!(matches!(
        j.with_join("n5", "h:5"),
        Err(ChangeError::InProgress { epoch: 2, .. })
    ));
    assert!(matches!(
        j.with_leave("n1"),
        Err(ChangeError::InProgress { .. })
    ));
    let s = j.settled();
    assert_eq!(s.epoch, 3);
    assert!(s.is_settled());
    assert_eq!(s.member("n4").unwrap().status, Status::Active);
    assert!(matches!(
        s.with_join("n4", "other:4"),
        Err(ChangeError::OtherAddress { .. })
    ));
}

#[test]
fn a_leave_takes_the_node_out_of_the_ring_then_out_of_the_document() {
    let d = three().formed();
    let l = d.with_leave("n2").unwrap().unwrap();
    assert_eq!(l.member("n2").unwrap().status, Status::Leaving);
    assert_eq!(l.ring_ids(), vec!["n1", "n3"]);
    assert_eq!(l.with_leave("n2"), Ok(None));
    let s = l.settled();
    assert!(s.member("n2").is_none());
    assert_eq!(s.ring_ids(), vec!["n1", "n3"]);
    assert!(matches!(
        s.with_leave("n9"),
        Err(ChangeError::Unknown { .. })
    ));
    let one = s.with_leave("n3").unwrap().unwrap().settled();
    assert!(matches!(
        one.with_leave("n1"),
        Err(ChangeError::LastNode { .. })
    ));
}

#[test]
fn the_larger_epoch_wins_then_the_larger_hash_the_same_way_everywhere() {
    let a = three().formed();
    let b = a.with_join("n4", "h:4").unwrap().unwrap();
    assert!(b.supersedes(&a) && !a.supersedes(&b));
    let c = a.with_join("n5", "h:5").unwrap().unwrap();
    // Two leaders committed epoch 2 concurrently: exactly one of them wins on both sides.
    assert_eq!(b.epoch, c.epoch);
    assert!(b.supersedes(&c) != c.supersedes(&b));
    assert!(!a.supersedes(&a));
}

#[test]
fn documents_round_trip_and_bad_ones_are_refused_with_the_reason() {
    let d = three().formed().with_join("n4", "h:4").unwrap().unwrap();
    let back = Membership::parse(d.to_json().as_bytes()).unwrap();
    assert_eq!(back, d);
    assert_eq!(back.hash(), d.hash());
    let bad = |s: &str| Membership::parse(s.as_bytes()).unwrap_err().to_string();
    assert!(bad("{").contains("membership document"));
    let no_ring = r#"{"epoch":1,"virtual_nodes":5,"members":[{"node_id":"a","address":"h:1","status":"leaving"}]}"#;
    assert!(bad(no_ring).contains("no member in the ring"));
    let prev = r#"{"epoch":1,"virtual_nodes":5,"members":[{"node_id":"a","address":"h:1","status":"active"}],"previous":["zz"]}"#;
    assert!(bad(prev).contains("\"zz\""));
    let dup = r#"{"epoch":1,"virtual_nodes":5,"members":[{"node_id":"a","address":"h:1","status":"active"},{"node_id":"a","address":"h:2","status":"active"}]}"#;
    assert!(bad(dup).contains("duplicate"));
    let vn = r#"{"epoch":1,"virtual_nodes":0,"members":[{"node_id":"a","address":"h:1","status":"active"}]}"#;
    assert!(bad(vn).contains("virtual_nodes"));
    assert!(bad(&" ".repeat(MAX_DOC_BYTES + 1)).contains("bytes"));
}

#[test]
fn rings_use_the_given_slots_and_place_keys_as_the_plain_ring_does() {
    let d = three().formed().with_join("n4", "h:4").unwrap().unwrap();
    // Slots in another order than the ids: placement must not change, only the numbers.
    let slot = |id: &str| match id {
        "n1" => 7,
        "n2" => 3,
        "n3" => 0,
        _ => 12,
    };
    let (ring, prev) = d.rings(slot).unwrap();
    let prev = prev.expect("a change has a previous ring");
    let plain = Ring::new(&["n1", "n2", "n3", "n4"], 50).unwrap();
    let plain_prev = Ring::new(&["n1", "n2", "n3"], 50).unwrap();
    for i in 0..500 {
        let k = format!("key-{i}");
        let owner = ring.owner(k.as_bytes());
        assert_eq!(
            ring.node_id(owner),
            plain.node_id(plain.owner(k.as_bytes()))
        );
        let owner = prev.owner(k.as_bytes());
        assert_eq!(
            prev.node_id(owner),
            plain_prev.node_id(plain_prev.owner(k.as_bytes()))
        );
    }
    assert!(ring.contains(12) && !prev.contains(12));
    assert_eq!(ring.index_of("n2"), Some(3));
}
