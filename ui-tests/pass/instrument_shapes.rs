//! `#[instrument]` on every function shape it supports.
#![deny(warnings)]

use std::future::Future;

#[budobserve::instrument]
fn plain(a: i32, b: i32) -> i32 {
    a + b
}

#[budobserve::instrument(msg_template = "chat {model} {n:>3}", span_name = "chat", level = "debug", tags = ["llm"], extract_args = [n], record_return, new_trace)]
fn with_options(model: &str, n: u32) -> Result<u32, std::io::Error> {
    let _ = model;
    Ok(n)
}

#[budobserve::instrument(extract_args = false)]
fn no_args_extracted(secret: &str) -> usize {
    secret.len()
}

#[budobserve::instrument]
async fn asynchronous(value: u32) -> Result<u32, String> {
    if value == 0 {
        return Err("zero".to_owned());
    }
    Ok(value)
}

#[budobserve::instrument]
fn returns_future(value: u32) -> impl Future<Output = u32> {
    async move { value }
}

#[budobserve::instrument(allow_generator)]
fn numbers(limit: u32) -> impl Iterator<Item = u32> {
    0..limit
}

#[budobserve::instrument]
fn question_mark(text: &str) -> Result<i64, std::num::ParseIntError> {
    let value: i64 = text.parse()?;
    Ok(value * 2)
}

#[budobserve::instrument]
fn no_return(_flag: bool) {}

#[budobserve::instrument]
fn generic<T: Clone + serde::Serialize>(value: &T) -> T
where
    T: std::fmt::Debug,
{
    value.clone()
}

struct Client {
    name: String,
}

impl Client {
    #[budobserve::instrument(msg_template = "{self.name} calls {path}")]
    fn call(&self, path: &str) -> usize {
        path.len()
    }

    #[budobserve::instrument]
    fn rename(&mut self, name: String) {
        self.name = name;
    }

    #[budobserve::instrument]
    fn into_name(self) -> String {
        self.name
    }

    #[budobserve::instrument]
    fn new(name: &str) -> Self {
        Client { name: name.to_owned() }
    }

    #[budobserve::instrument]
    async fn fetch(&self, id: u32) -> u32 {
        id
    }
}

trait Greeter {
    fn greet(&self, name: &str) -> String;
}

impl Greeter for Client {
    #[budobserve::instrument]
    fn greet(&self, name: &str) -> String {
        format!("{} greets {name}", self.name)
    }
}

fn main() {
    let _ = plain(1, 2);
    let _ = with_options("m", 3);
    let _ = no_args_extracted("s");
    let _ = numbers(3).count();
    let _ = question_mark("2");
    no_return(true);
    let _ = generic(&5);
    let mut client = Client::new("c");
    let _ = client.call("/x");
    client.rename("d".to_owned());
    let _ = client.greet("e");
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap_or_else(|_| std::process::abort());
    runtime.block_on(async {
        let _ = asynchronous(1).await;
        let _ = returns_future(2).await;
        let _ = client.fetch(3).await;
    });
    let _ = client.into_name();
}
