//! The redirect policy: a limit, and credentials that never cross origins.

use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};
use http::uri::{Authority, Scheme};
use http::{Request, Uri};
use tower_http::follow_redirect::policy::{Action, Attempt, Policy};

use crate::{Body, BoxError, Error};

/// Follows up to `limit` redirects, then fails with [`Error::Redirect`] (a limit of `0` hands
/// every 3xx back). Once a redirect leaves
/// the origin of the first request, `Authorization`, `Proxy-Authorization` and `Cookie` are
/// removed; they come back only on a hop to the original origin.
#[derive(Debug, Clone)]
pub(crate) struct RedirectPolicy {
    limit: usize,
    remaining: usize,
    origin: Option<(Option<Scheme>, Option<Authority>)>,
    cross_origin: bool,
}

impl RedirectPolicy {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            remaining: limit,
            origin: None,
            cross_origin: false,
        }
    }
}

fn origin(uri: &Uri) -> (Option<Scheme>, Option<Authority>) {
    (uri.scheme().cloned(), uri.authority().cloned())
}

impl Policy<Body, BoxError> for RedirectPolicy {
    fn redirect(&mut self, attempt: &Attempt<'_>) -> Result<Action, BoxError> {
        if self.limit == 0 {
            return Ok(Action::Stop);
        }
        if self.remaining == 0 {
            return Err(Box::new(Error::Redirect { limit: self.limit }));
        }
        self.remaining -= 1;
        let location = origin(attempt.location());
        let first = self
            .origin
            .get_or_insert_with(|| origin(attempt.previous()));
        self.cross_origin = *first != location;
        Ok(Action::Follow)
    }

    fn on_request(&mut self, request: &mut Request<Body>) {
        if self.origin.is_none() {
            self.origin = Some(origin(request.uri()));
        }
        if self.cross_origin {
            let headers = request.headers_mut();
            for name in [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE] {
                headers.remove(name);
            }
        }
    }

    fn clone_body(&self, body: &Body) -> Option<Body> {
        body.try_clone()
    }
}
