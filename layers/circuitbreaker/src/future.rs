//! [`ResponseFuture`].

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use pin_project_lite::pin_project;

use crate::{CircuitOpen, ClassifyFailure, Permit, response::OnOpen};

pin_project! {
    /// Response future of [`CircuitBreakerService`](crate::CircuitBreakerService).
    #[derive(Debug)]
    pub struct ResponseFuture<F, C, O> {
        #[pin]
        state: State<F>,
        permit: Option<Permit>,
        classifier: C,
        on_open: O,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Called { #[pin] future: F },
        Rejected { open: CircuitOpen },
    }
}

impl<F, C, O> ResponseFuture<F, C, O> {
    pub(crate) fn called(future: F, permit: Permit, classifier: C, on_open: O) -> Self {
        Self {
            state: State::Called { future },
            permit: Some(permit),
            classifier,
            on_open,
        }
    }

    pub(crate) fn rejected(open: CircuitOpen, classifier: C, on_open: O) -> Self {
        Self {
            state: State::Rejected { open },
            permit: None,
            classifier,
            on_open,
        }
    }
}

impl<F, C, O, Res, E> Future for ResponseFuture<F, C, O>
where
    F: Future<Output = Result<Res, E>>,
    C: ClassifyFailure<Res, E>,
    O: OnOpen<Res, E>,
{
    type Output = Result<Res, O::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.state.project() {
            StateProj::Called { future } => {
                // Wait for the inner call, then tell the breaker how it went.
                let result = ready!(future.poll(cx));
                if let Some(permit) = this.permit.take() {
                    permit.record(this.classifier.classify(&result));
                }
                Poll::Ready(result.map_err(|e| this.on_open.inner_error(e)))
            }
            // Refused at admission: no inner call was made.
            StateProj::Rejected { open } => Poll::Ready(this.on_open.on_open(open)),
        }
    }
}
