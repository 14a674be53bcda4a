#[budobserve::instrument(msg_template = "chat with {modle}")]
fn chat(model: &str, prompt: &str) -> usize {
    model.len() + prompt.len()
}

fn main() {
    let _ = chat("m", "hi");
}
