#[budobserve::instrument(msg_template = "chat with {model}")]
fn chat(prompt: &str) -> usize {
    prompt.len()
}

fn main() {
    let _ = chat("hi");
}
