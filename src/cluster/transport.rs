//! The outermost layer of every API client: a request that got no answer is told with the
//! server it was for ("cannot reach the API server at https://…"), and with `-v 6` or more
//! each request is logged on stderr as kubectl logs it: method, URL, status and time. Never
//! a header or a body: headers carry credentials, and bodies (a Secret) the decoy's token.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tower::{BoxError, Layer, Service};

/// kubectl's level for logging each request's method, URL, status and time.
pub const LOG_REQUESTS: u8 = 6;

/// A request to `server` that got no answer: no connection, a TLS failure, a timeout.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the API server at {server}: {}", crate::ui::causes::chain(source.as_ref()))]
pub struct Unanswered {
    pub server: String,
    #[source]
    pub source: BoxError,
}

/// Wraps a client's stack in [`Logged`].
#[derive(Debug, Clone)]
pub struct RequestLog {
    server: String,
    verbosity: u8,
}

impl RequestLog {
    pub fn new(server: &str, verbosity: u8) -> RequestLog {
        RequestLog {
            server: server.trim_end_matches('/').to_string(),
            verbosity,
        }
    }
}

impl<S> Layer<S> for RequestLog {
    type Service = Logged<S>;

    fn layer(&self, inner: S) -> Logged<S> {
        Logged {
            inner,
            log: self.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Logged<S> {
    inner: S,
    log: RequestLog,
}

/// The line `-v 6` prints for one request: method, URL, status and time, as kubectl's
/// round-tripper logs it. Pure.
pub fn line(
    method: &http::Method,
    url: &str,
    outcome: Result<http::StatusCode, &str>,
    millis: u128,
) -> String {
    match outcome {
        Ok(status) => format!(
            "{method} {url} {} {} in {millis} milliseconds",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .replace("  in", " in"),
        Err(why) => format!("{method} {url} failed in {millis} milliseconds: {why}"),
    }
}

/// The URL a request goes to: the server and the request's path and query (the layers below
/// put the server in front of the path).
fn url_of(server: &str, uri: &http::Uri) -> String {
    match uri.path_and_query() {
        Some(path) if uri.scheme().is_none() => format!("{server}{path}"),
        _ => uri.to_string(),
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for Logged<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let logging = self.log.verbosity >= LOG_REQUESTS;
        let method = request.method().clone();
        let url = logging.then(|| url_of(&self.log.server, request.uri()));
        let server = self.log.server.clone();
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let result = answer.await.map_err(Into::into);
            if let Some(url) = &url {
                let millis = started.elapsed().as_millis();
                let told = match &result {
                    Ok(response) => line(&method, url, Ok(response.status()), millis),
                    Err(error) => line(
                        &method,
                        url,
                        Err(&crate::ui::causes::chain(error.as_ref())),
                        millis,
                    ),
                };
                eprintln!("{told}");
            }
            result.map_err(|error: BoxError| {
                // The client's own errors (authentication, an exec plugin) keep their type:
                // they are told, and redacted, as they are.
                if error.is::<kube::Error>() {
                    error
                } else {
                    Box::new(Unanswered {
                        server,
                        source: error,
                    }) as BoxError
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_request_is_method_url_status_and_time() {
        assert_eq!(
            line(
                &http::Method::GET,
                "https://127.0.0.1:6443/api/v1/namespaces/kube-system/secrets?limit=500",
                Ok(http::StatusCode::OK),
                4
            ),
            "GET https://127.0.0.1:6443/api/v1/namespaces/kube-system/secrets?limit=500 200 OK \
             in 4 milliseconds"
        );
        assert_eq!(
            line(
                &http::Method::DELETE,
                "https://h/x",
                Err("connection refused"),
                12
            ),
            "DELETE https://h/x failed in 12 milliseconds: connection refused"
        );
    }

    #[test]
    fn the_url_is_the_server_and_the_requests_path() {
        let uri: http::Uri = "/api/v1/namespaces?limit=1".parse().unwrap();
        assert_eq!(
            url_of("https://10.0.0.1:6443", &uri),
            "https://10.0.0.1:6443/api/v1/namespaces?limit=1"
        );
        let full: http::Uri = "https://10.0.0.1:6443/version".parse().unwrap();
        assert_eq!(
            url_of("https://other", &full),
            "https://10.0.0.1:6443/version"
        );
    }

    #[test]
    fn an_unanswered_request_names_the_server() {
        let error = Unanswered {
            server: "https://10.0.0.1:6443".into(),
            source: Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connection refused",
            )),
        };
        assert_eq!(
            error.to_string(),
            "cannot reach the API server at https://10.0.0.1:6443: connection refused"
        );
        assert!(std::error::Error::source(&error).is_some());
    }
}
