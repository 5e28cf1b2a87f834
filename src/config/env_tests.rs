//! Unit tests for `env.rs`: the `${NAME}` grammar, its errors and their positions.

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "HOSTNAME" => Some("cache-node-2".into()),
        "PORT" => Some("8001".into()),
        "EMPTY" => Some(String::new()),
        "_X1" => Some("x".into()),
        "NEWLINE" => Some("a\nb: c".into()),
        "QUOTE" => Some("a\"b".into()),
        _ => None,
    }
}

fn ok(text: &str) -> String {
    expand(text, &env).expect(text).into_owned()
}

fn err(text: &str) -> EnvError {
    expand(text, &env).expect_err(text)
}

#[test]
fn text_without_references_is_borrowed_unchanged() {
    for text in [
        "a: b\n",
        "price: $5\n",
        "a: $$\n",
        "a: $HOME\n",
        "a: \"$\"\n",
        "",
    ] {
        let out = expand(text, &env).expect(text);
        assert!(matches!(out, Cow::Borrowed(t) if t == text), "{text}");
    }
}

#[test]
fn references_are_replaced_anywhere_on_a_line() {
    assert_eq!(
        ok("node_id: \"${HOSTNAME}\"\n"),
        "node_id: \"cache-node-2\"\n"
    );
    assert_eq!(
        ok("  \"${HOSTNAME}\": \"${HOSTNAME}.cache-node:${PORT}\"\n"),
        "  \"cache-node-2\": \"cache-node-2.cache-node:8001\"\n"
    );
    assert_eq!(ok("a: ${HOSTNAME}${PORT}"), "a: cache-node-28001");
    assert_eq!(ok("a: \"${EMPTY}\"\nb: ${_X1}\n"), "a: \"\"\nb: x\n");
    // Other dollars stay as written, also on a line that has a reference.
    assert_eq!(ok("a: $ $$ $H ${PORT}$\n"), "a: $ $$ $H 8001$\n");
}

#[test]
fn double_dollar_brace_is_a_literal() {
    assert_eq!(ok("a: \"$${HOSTNAME}\"\n"), "a: \"${HOSTNAME}\"\n");
    assert_eq!(ok("a: \"$${\"\n"), "a: \"${\"\n");
}

#[test]
fn whole_line_comments_are_not_expanded() {
    let text = "# node_id: \"${UNSET}\"\n  # ${ nonsense\nnode_id: ${HOSTNAME} # ok\n";
    assert_eq!(
        ok(text),
        "# node_id: \"${UNSET}\"\n  # ${ nonsense\nnode_id: cache-node-2 # ok\n"
    );
}

#[test]
fn an_unset_variable_names_line_key_and_variable() {
    let e = err("node_id: a\ncluster:\n  # c\n  discovery: \"dns:${SVC}:8001\"\n");
    assert_eq!(e.line, 4);
    assert_eq!(e.key.as_deref(), Some("cluster.discovery"));
    assert!(e.message.contains("`SVC` is not set"), "{}", e.message);
    assert!(e.message.contains("${SVC}"), "{}", e.message);
    let e = err("cluster_nodes:\n  \"${NODE}\": \"x:1\"\n");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (2, Some("cluster_nodes.${NODE}"))
    );
    let e = err("cluster_nodes: {\"${NODE}\": \"x:1\"}\n");
    assert_eq!((e.line, e.key.as_deref()), (1, Some("cluster_nodes")));
}

#[test]
fn malformed_references_are_errors() {
    for text in [
        "a: ${}\n",
        "a: ${1X}\n",
        "a: ${HOST NAME}\n",
        "a: ${HOSTNAME\n",
        "a: ${HOSTNAME-x}\n",
        "a: ${",
    ] {
        let e = err(text);
        assert_eq!((e.line, e.key.as_deref()), (1, Some("a")), "{text}");
        assert!(
            e.message.contains("not a variable reference"),
            "{text}: {}",
            e.message
        );
    }
}

#[test]
fn values_that_could_change_the_yaml_are_refused() {
    for (name, shown) in [("NEWLINE", "'\\n'"), ("QUOTE", "'\"'")] {
        let e = err(&format!("a:\n  b: \"${{{name}}}\"\n"));
        assert_eq!((e.line, e.key.as_deref()), (2, Some("a.b")));
        assert!(
            e.message.contains(name) && e.message.contains(shown),
            "{}",
            e.message
        );
    }
}

#[test]
fn key_paths_follow_indentation() {
    let text = "a: 1\nb:\n  c:\n    d: x\n  e: y\nlist:\n  - k: v\n";
    assert_eq!(key_path_at(text, 0).as_deref(), Some("a"));
    assert_eq!(key_path_at(text, 3).as_deref(), Some("b.c.d"));
    assert_eq!(key_path_at(text, 4).as_deref(), Some("b.e"));
    assert_eq!(key_path_at(text, 6).as_deref(), Some("list.k"));
    assert_eq!(key_path_at("  just text\n", 0), None);
    assert_eq!(key_path_at("a: 1\n", 5), None);
}
