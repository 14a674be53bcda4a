//! What BudObserve detects about where a service runs, for the resource every span, metric and log is sent with:
//! `service.instance.id` (random, one per configuration, so replicas of one service are told apart), `host.name`,
//! `host.arch`, `process.pid`, `process.executable.name`/`.path`, `process.runtime.*` (the compiler that built the
//! program), `os.type`, and, where the environment provides them, `container.id` and `k8s.pod.name`,
//! `k8s.pod.uid`, `k8s.namespace.name`, `k8s.node.name` (from the Downward API variables of
//! `constants::env::K8S_*`, the pod name falling back to the host name inside Kubernetes).
//!
//! Every detected key is overridden by the same key in `OTEL_RESOURCE_ATTRIBUTES`/`BUD_OBSERVE_RESOURCE_ATTRIBUTES`
//! or [`resource_attribute`](crate::ConfigBuilder::resource_attribute); detection is turned off with
//! [`resource_detection(false)`](crate::ConfigBuilder::resource_detection) or `BUD_OBSERVE_RESOURCE_DETECTION=false`.
//! The process's command line is never written: arguments carry secrets.

use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{IdGenerator as _, RandomIdGenerator};

use crate::config::setting::EnvSource;
use crate::constants::{env, resource as keys};
use crate::error::ConfigError;

/// The compiler that built BudObserve (`rustc 1.95.0 (…)`), as the build script found it.
const RUSTC_DESCRIPTION: &str = env!("BUDOBSERVE_RUSTC_VERSION");

/// Where Kubernetes mounts the pod's namespace.
const K8S_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The detected resource attributes.
pub(crate) fn detect(env: &EnvSource) -> Result<Vec<KeyValue>, ConfigError> {
    let mut attributes = vec![
        KeyValue::new(keys::SERVICE_INSTANCE_ID, instance_id()),
        KeyValue::new(keys::PROCESS_PID, i64::from(std::process::id())),
        KeyValue::new(keys::PROCESS_RUNTIME_NAME, "rustc"),
        KeyValue::new(keys::PROCESS_RUNTIME_VERSION, runtime_version(RUSTC_DESCRIPTION)),
        KeyValue::new(keys::PROCESS_RUNTIME_DESCRIPTION, RUSTC_DESCRIPTION),
        KeyValue::new(keys::OS_TYPE, os_type(std::env::consts::OS)),
        KeyValue::new(keys::HOST_ARCH, host_arch(std::env::consts::ARCH)),
    ];
    if let Ok(executable) = std::env::current_exe() {
        if let Some(name) = executable.file_name().and_then(|name| name.to_str()) {
            attributes.push(KeyValue::new(keys::PROCESS_EXECUTABLE_NAME, name.to_owned()));
        }
        if let Some(path) = executable.to_str() {
            attributes.push(KeyValue::new(keys::PROCESS_EXECUTABLE_PATH, path.to_owned()));
        }
    }
    let host = host_name(env)?;
    if let Some(host) = &host {
        attributes.push(KeyValue::new(keys::HOST_NAME, host.clone()));
    }
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Some(id) = container_id(&cgroup, &mountinfo) {
        attributes.push(KeyValue::new(keys::CONTAINER_ID, id));
    }
    let in_kubernetes = env.get(env::KUBERNETES_SERVICE_HOST)?.is_some();
    let pod = match first(env, &env::K8S_POD_NAME)? {
        Some(pod) => Some(pod),
        None if in_kubernetes => host,
        None => None,
    };
    let namespace = match first(env, &env::K8S_NAMESPACE_NAME)? {
        Some(namespace) => Some(namespace),
        None if in_kubernetes => std::fs::read_to_string(K8S_NAMESPACE_FILE)
            .ok()
            .map(|text| text.trim().to_owned())
            .filter(|n| !n.is_empty()),
        None => None,
    };
    let kubernetes = [
        (keys::K8S_POD_NAME, pod),
        (keys::K8S_POD_UID, first(env, &env::K8S_POD_UID)?),
        (keys::K8S_NAMESPACE_NAME, namespace),
        (keys::K8S_NODE_NAME, first(env, &env::K8S_NODE_NAME)?),
    ];
    attributes.extend(kubernetes.into_iter().filter_map(|(key, value)| value.map(|value| KeyValue::new(key, value))));
    Ok(attributes)
}

/// A random UUID (version 4) from the SDK's random id generator.
fn instance_id() -> String {
    let mut bytes = RandomIdGenerator::default().new_trace_id().to_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The value of the first of `variables` that is set.
fn first(env: &EnvSource, variables: &[&'static str]) -> Result<Option<String>, ConfigError> {
    for &variable in variables {
        if let Some(value) = env.get(variable)? {
            return Ok(Some(value.trim().to_owned()));
        }
    }
    Ok(None)
}

/// The kernel's host name, else `HOSTNAME`.
fn host_name(env: &EnvSource) -> Result<Option<String>, ConfigError> {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    match kernel {
        Some(name) => Ok(Some(name)),
        None => Ok(env.get(env::HOSTNAME)?.map(|name| name.trim().to_owned())),
    }
}

/// `1.95.0` of `rustc 1.95.0 (59807616e 2026-04-14)`.
fn runtime_version(description: &str) -> &str {
    description.split_whitespace().nth(1).unwrap_or("unknown")
}

/// The semantic conventions' `os.type` of Rust's `std::env::consts::OS`.
fn os_type(os: &'static str) -> &'static str {
    match os {
        "macos" | "ios" => "darwin",
        "dragonfly" => "dragonflybsd",
        "illumos" => "solaris",
        other => other,
    }
}

/// The semantic conventions' `host.arch` of Rust's `std::env::consts::ARCH`.
fn host_arch(arch: &'static str) -> &'static str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm32",
        "powerpc" => "ppc32",
        "powerpc64" => "ppc64",
        other => other,
    }
}

/// The container id in `/proc/self/cgroup` (cgroup v1, and v2 under systemd: `…/docker-<id>.scope`), else in
/// `/proc/self/mountinfo` (cgroup v2: the runtime's `…/containers/<id>/hostname` mount).
fn container_id(cgroup: &str, mountinfo: &str) -> Option<String> {
    let from_cgroup = cgroup.lines().find_map(|line| {
        let last = line.rsplit('/').next()?;
        let last = last.strip_suffix(".scope").unwrap_or(last);
        let id = last.rsplit(['-', ':']).next()?;
        is_container_id(id).then(|| id.to_owned())
    });
    from_cgroup.or_else(|| {
        mountinfo.lines().find_map(|line| {
            let mut parts = line.split('/');
            while let Some(part) = parts.next() {
                if part == "containers" || part == "sandboxes" {
                    let id = parts.next()?;
                    if is_container_id(id) {
                        return Some(id.to_owned());
                    }
                }
            }
            None
        })
    })
}

fn is_container_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const ID: &str = "3f4a9e2b1c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

    fn value(attributes: &[KeyValue], key: &str) -> Option<String> {
        attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.as_str().into_owned())
    }

    #[test]
    fn instance_ids_are_random_uuids() {
        let (a, b) = (instance_id(), instance_id());
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(parts[2].starts_with('4'), "{a}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn container_ids_are_found_in_cgroups_and_mounts() {
        assert_eq!(container_id(&format!("0::/system.slice/docker-{ID}.scope\n"), ""), Some(ID.to_owned()));
        assert_eq!(container_id(&format!("12:pids:/kubepods/besteffort/pod1/{ID}\n"), ""), Some(ID.to_owned()));
        assert_eq!(container_id(&format!("0::/kubepods.slice/cri-containerd-{ID}.scope"), ""), Some(ID.to_owned()));
        let mountinfo = format!("736 712 0:61 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw - ext4 rw\n");
        assert_eq!(container_id("0::/\n", &mountinfo), Some(ID.to_owned()));
        assert_eq!(container_id("0::/user.slice/session-2.scope\n", "25 1 8:1 / / rw - ext4 rw\n"), None);
    }

    #[test]
    fn kubernetes_comes_from_the_downward_api() {
        let env = EnvSource::Map(HashMap::from([
            ("POD_NAME".to_owned(), "budapp-7c9f-x2k".to_owned()),
            ("K8S_NAMESPACE_NAME".to_owned(), "bud-prod".to_owned()),
            ("NODE_NAME".to_owned(), "gpu-node-3".to_owned()),
            ("K8S_POD_UID".to_owned(), "0f1e2d3c".to_owned()),
        ]));
        let attributes = detect(&env).unwrap();
        assert_eq!(value(&attributes, keys::K8S_POD_NAME).as_deref(), Some("budapp-7c9f-x2k"));
        assert_eq!(value(&attributes, keys::K8S_NAMESPACE_NAME).as_deref(), Some("bud-prod"));
        assert_eq!(value(&attributes, keys::K8S_NODE_NAME).as_deref(), Some("gpu-node-3"));
        assert_eq!(value(&attributes, keys::K8S_POD_UID).as_deref(), Some("0f1e2d3c"));
        let outside = detect(&EnvSource::Map(HashMap::new())).unwrap();
        assert_eq!(value(&outside, keys::K8S_POD_NAME), None);
        assert_eq!(value(&outside, keys::PROCESS_RUNTIME_NAME).as_deref(), Some("rustc"));
        assert!(value(&outside, keys::PROCESS_RUNTIME_VERSION).is_some_and(|v| v.starts_with("1.")));
        assert_eq!(
            outside.iter().find(|kv| kv.key.as_str() == keys::PROCESS_PID).map(|kv| kv.value.clone()),
            Some(opentelemetry::Value::I64(i64::from(std::process::id())))
        );
    }

    #[test]
    fn names_follow_the_semantic_conventions() {
        assert_eq!(os_type("macos"), "darwin");
        assert_eq!(os_type("linux"), "linux");
        assert_eq!(host_arch("x86_64"), "amd64");
        assert_eq!(host_arch("aarch64"), "arm64");
        assert_eq!(runtime_version("rustc 1.95.0 (59807616e 2026-04-14)"), "1.95.0");
    }
}
