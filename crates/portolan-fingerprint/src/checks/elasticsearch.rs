//! Elasticsearch: `GET /` answered with the cluster banner without credentials.

use std::net::SocketAddr;

use crate::checks::{ask, finding, http_get, http_status_body};
use crate::engine::Options;
use crate::report::{ServiceReport, Severity};

pub async fn check(addr: SocketAddr, opts: &Options, r: &mut ServiceReport) {
    let Some(b) = ask(addr, opts, &http_get(addr, "/"), |_| false).await else {
        return;
    };
    let Some((status, body)) = http_status_body(&b) else {
        return;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    if status == 200 && v.get("cluster_name").is_some() {
        let ev = format!(
            "GET / -> 200, cluster {}, version {}",
            v["cluster_name"].as_str().unwrap_or("?"),
            v["version"]["number"].as_str().unwrap_or("?")
        );
        r.findings.push(finding(
            "elasticsearch-no-auth",
            Severity::Critical,
            "Elasticsearch answers without credentials",
            ev.as_bytes(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testutil::{fake, opts};
    use portolan_registry::Protocol;

    #[tokio::test]
    async fn open_cluster_is_flagged_and_secured_one_is_not() {
        let open = fake(b"", |_| {
            let body = r#"{"name":"n1","cluster_name":"lab","version":{"number":"8.11.1"},"tagline":"You Know, for Search"}"#;
            Some(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()).into_bytes())
        })
        .await;
        let mut r = ServiceReport::new(open, Protocol::Tcp);
        check(open, &opts(), &mut r).await;
        assert_eq!(r.findings.len(), 1);
        assert!(r.findings[0].evidence.contains("8.11.1"));

        let secured = fake(b"", |_| {
            let body = r#"{"error":{"type":"security_exception"},"status":401}"#;
            Some(format!("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"security\"\r\n\r\n{body}").into_bytes())
        })
        .await;
        let mut r = ServiceReport::new(secured, Protocol::Tcp);
        check(secured, &opts(), &mut r).await;
        assert!(r.findings.is_empty());
    }
}
