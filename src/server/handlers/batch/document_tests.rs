use super::*;

#[test]
fn a_document_is_its_ops_as_sent() {
    let body = br#"{"ops":[{"op":"get","key":"a"}, {"op":"put","key":"b","value":{ "x" : 1 }}]}"#;
    let ops = ops(body).expect("valid");
    assert_eq!(ops.len(), 2);
    assert_eq!(
        ops[1].get(),
        r#"{"op":"put","key":"b","value":{ "x" : 1 }}"#
    );
    assert!(super::ops(br#"{"ops":[]}"#).expect("empty").is_empty());
}

#[test]
fn a_malformed_document_is_one_error_naming_the_op() {
    let cases: [(&[u8], Option<usize>); 7] = [
        (b"", None),
        (b"[]", None),
        (b"{}", None),
        (br#"{"ops":{}}"#, None),
        (br#"{"ops":[],"more":1}"#, None),
        (br#"{"ops":[{"op":"get","key":"a"},{"op":"get""#, Some(1)),
        (
            br#"{"ops":[{"op":"get","key":"a"}, {"op":"get","key":"b",}]}"#,
            Some(1),
        ),
    ];
    for (body, op) in cases {
        match ops(body) {
            Err(DocError::Malformed { op: at, why }) => {
                assert_eq!(at, op, "{}: {why}", String::from_utf8_lossy(body));
                let e = DocError::Malformed { op: at, why };
                assert_eq!(e.status(), 400);
                if let Some(i) = op {
                    assert!(e.to_string().contains(&format!("op {i}:")), "{e}");
                }
            }
            other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
        }
    }
    let trailing = ops(br#"{"ops":[]} x"#).expect_err("trailing bytes");
    assert_eq!(trailing.status(), 400);
    let missing = ops(b"{}").expect_err("no ops").to_string();
    assert!(missing.contains("missing field \"ops\""), "{missing}");
}

#[test]
fn the_op_count_is_bounded() {
    let doc = |n: usize| {
        let ops = vec![r#"{"op":"get","key":"k"}"#; n].join(",");
        format!(r#"{{"ops":[{ops}]}}"#)
    };
    assert_eq!(
        ops(doc(MAX_BATCH_OPS).as_bytes())
            .expect("at the bound")
            .len(),
        MAX_BATCH_OPS
    );
    let over = ops(doc(MAX_BATCH_OPS + 1).as_bytes()).expect_err("over the bound");
    assert_eq!(over, DocError::TooMany);
    assert_eq!(over.status(), 413);
    assert!(over.to_string().contains("at most 1000 ops"));
}
