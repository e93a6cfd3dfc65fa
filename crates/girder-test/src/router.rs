use std::io;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use girder_core::Body;
use http::{Method, Response};
use tokio::time::Instant;

use crate::recorded::Log;
use crate::{RecordedRequest, Reply, Script};

struct Route {
    method: Option<Method>,
    path: Option<String>,
    script: Script,
}

/// Routes by exact path (query ignored) and optional method; a route for
/// the method wins over one for any method, and a later route over an
/// earlier one for the same method and path.
#[derive(Clone, Default)]
pub(crate) struct Router(Arc<Mutex<Vec<Route>>>);

impl Router {
    pub(crate) fn add(&self, method: Option<Method>, path: Option<&str>, script: Script) {
        let mut routes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        routes.push(Route {
            method,
            path: path.map(str::to_owned),
            script,
        });
    }

    /// Records a request that arrived at `at`, picks its reply and waits
    /// the reply's delay: the part the server and the mock share.
    pub(crate) async fn answer(
        &self,
        log: &Log,
        head: http::request::Parts,
        body: Bytes,
        at: Instant,
        connection: u64,
    ) -> Result<Response<Body>, io::Error> {
        let recorded = RecordedRequest {
            method: head.method,
            uri: head.uri,
            version: head.version,
            headers: head.headers,
            body,
            at,
            connection,
        };
        let reply = self.reply_for(&recorded);
        log.push(recorded);
        let wait = reply.wait();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        reply.into_response()
    }

    fn reply_for(&self, request: &RecordedRequest) -> Reply {
        let script = {
            let routes = self.0.lock().unwrap_or_else(|p| p.into_inner());
            // A route for the path wins over the fallback, whichever was
            // added first.
            let for_path = |r: &&Route| r.path.as_deref() == Some(request.path());
            let exact = routes
                .iter()
                .rev()
                .filter(for_path)
                .find(|r| r.method.as_ref() == Some(&request.method));
            let any = || {
                routes
                    .iter()
                    .rev()
                    .filter(for_path)
                    .find(|r| r.method.is_none())
            };
            let fallback = || routes.iter().rev().find(|r| r.path.is_none());
            exact
                .or_else(any)
                .or_else(fallback)
                .map(|r| r.script.clone())
        };
        match script {
            Some(script) => script.next_reply(request),
            None => Reply::status(404).body(format!(
                "girder-test: no route for {} {}",
                request.method,
                request.path()
            )),
        }
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("Router")
            .field("routes", &routes.len())
            .finish()
    }
}
