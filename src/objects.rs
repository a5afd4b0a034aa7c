//! Calling a Durable Object from the Worker: one POST of JSON per operation.

use serde::Serialize;
use worker::{Env, Result};

/// The operation a Worker asked an object for: the path of
/// `https://object/<op>`, read without a URL parser (the `url` crate runs
/// IDNA on every host it parses, which showed in CPU profiles).
pub fn op(req: &worker::Request) -> String {
    let url = req.inner().url();
    let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..]
            .split(['?', '#'])
            .next()
            .unwrap_or("/")
            .to_owned(),
        None => "/".to_owned(),
    }
}

/// A raw stub. workers-rs' `Stub::fetch_with_request` rebuilds every answer
/// as a new streamed `Response`, which cost more than the call itself.
pub struct ObjectStub(worker::worker_sys::DurableObject);

impl ObjectStub {
    /// The object of `binding` named `name`.
    pub fn new(env: &Env, binding: &str, name: &str) -> Result<ObjectStub> {
        Ok(ObjectStub(
            env.durable_object(binding)?.get_by_name(name)?.into_rpc(),
        ))
    }

    /// POSTs `body` to the object's `/<op>`; answers the status and body.
    pub async fn post<T: Serialize>(&self, op: &str, body: &T) -> Result<(u16, String)> {
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&serde_json::to_string(body)?.into());
        let req = web_sys::Request::new_with_str_and_init(&format!("https://object/{op}"), &init)?;
        let res: web_sys::Response =
            wasm_bindgen_futures::JsFuture::from(self.0.fetch_with_request(&req)?)
                .await?
                .into();
        let text = wasm_bindgen_futures::JsFuture::from(res.text()?).await?;
        Ok((res.status(), text.as_string().unwrap_or_default()))
    }
}
