//! GraphiQL works offline: headless Chromium, cut off from every host but this machine,
//! loads the page from the server, renders the schema in the documentation explorer and runs
//! a query. Needs Debian's `chromium` (`.ci/run` installs it); without it the test fails
//! unless `QUADERNO_SKIP_BROWSER_TESTS=1`.

use std::process::Command;

use crate::common::{gql, serve, wait_ready};

fn chromium() -> Option<String> {
    if let Ok(path) = std::env::var("QUADERNO_CHROMIUM") {
        return Some(path);
    }
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| {
            Command::new("sh")
                .args(["-c", &format!("command -v {name}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_owned)
}

/// The visible text of a DOM dump, tags dropped and spaces squeezed.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_renders_the_schema_and_runs_a_query_without_network() {
    let Some(browser) = chromium() else {
        if std::env::var("QUADERNO_SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
            eprintln!("skipped: no chromium, and QUADERNO_SKIP_BROWSER_TESTS=1");
            return;
        }
        panic!(
            "this test needs headless Chromium: `apt-get install chromium` (or set \
             QUADERNO_CHROMIUM=/path/to/chromium; QUADERNO_SKIP_BROWSER_TESTS=1 skips it)"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    wait_ready(&server.url).await;

    // The page and what it loads all come from this server.
    let page = reqwest::get(format!("{}/graphql", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
        "start.js",
    ] {
        assert!(page.contains(&format!("/graphql/assets/{asset}")));
        let r = reqwest::get(format!("{}/graphql/assets/{asset}", server.url))
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        assert!(r.bytes().await.unwrap().len() > 1000, "{asset} is empty");
    }

    let expected = gql(
        &server.url,
        None,
        "{ studies(first: 1) { edges { node { title } } } }",
    )
    .await["data"]["studies"]["edges"][0]["node"]["title"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = "{ studies(first: 1) { totalCount edges { node { title } } } }";
    let mut url = reqwest::Url::parse(&format!("{}/graphql", server.url)).unwrap();
    url.query_pairs_mut()
        .append_pair("docs", "1")
        .append_pair("run", "1")
        .append_pair("query", query);
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("120")
        .arg(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // No network but this machine: every other name is unknown, and anything not on
            // loopback would go through a proxy that is not there.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--proxy-server=http://127.0.0.1:9",
            "--virtual-time-budget=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url.as_str())
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = text_of(&String::from_utf8_lossy(&out.stdout));
    // The documentation explorer shows the schema fetched by introspection.
    assert!(
        !text.contains("Error fetching schema"),
        "introspection failed: {text}"
    );
    assert!(text.contains("Root Types"), "no schema rendered: {text}");
    assert!(text.contains("query : Query"), "{text}");
    assert!(text.contains("StudyConnection"), "{text}");
    // The result pane holds the query's answer.
    assert!(
        text.contains(&format!("\"title\" : \"{expected}\"")),
        "the query did not run: {text}"
    );
}
