#[budobserve::instrument(extract_args = [prompt, model])]
fn chat(prompt: &str) -> usize {
    prompt.len()
}

fn main() {
    let _ = chat("hi");
}
