//! `#[derive(BudAttributes)]` with every option.
#![deny(warnings)]

use budobserve::BudAttributes;

#[derive(BudAttributes)]
struct Usage {
    input_tokens: u32,
}

#[derive(Debug)]
enum Tier {
    Gold,
}

#[derive(BudAttributes)]
#[bud(prefix = "gen_ai.request")]
struct Request<'a> {
    #[bud(rename = "model")]
    model_name: &'a str,
    #[bud(key = "bud.project_id")]
    project: String,
    #[bud(skip)]
    #[allow(dead_code)]
    messages: Vec<String>,
    #[bud(redact)]
    #[allow(dead_code)]
    api_key: String,
    #[bud(json)]
    stop: Vec<String>,
    #[bud(display)]
    temperature: f32,
    #[bud(debug)]
    tier: Tier,
    #[bud(flatten)]
    usage: Usage,
    nested: Usage,
    r#type: &'static str,
}

fn main() {
    let request = Request {
        model_name: "m",
        project: "p".into(),
        messages: vec![],
        api_key: "k".into(),
        stop: vec![],
        temperature: 0.1,
        tier: Tier::Gold,
        usage: Usage { input_tokens: 1 },
        nested: Usage { input_tokens: 2 },
        r#type: "chat",
    };
    budobserve::bud_info!("request", request);
}
