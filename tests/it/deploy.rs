//! deploy/container and deploy/k8s hold together: the manifests parse, the
//! config they carry passes `troop config check`, and every command, path,
//! port, secret and name they use exists where they say.

use crate::support::Workspace;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every document of a YAML file, as JSON (PyYAML, which the test venv has
/// for moto).
fn yaml_docs(path: &Path) -> Vec<Value> {
    let python = std::env::var("TROOP_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))",
        ])
        .arg(path)
        .output()
        .expect("python");
    assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/k8s"))
}

#[test]
fn the_container_and_kubernetes_manifests_hold_together() {
    let k8s = repo().join("deploy/k8s");
    let kustomization = &yaml_docs(&k8s.join("kustomization.yaml"))[0];
    let resources: Vec<String> =
        kustomization["resources"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect();
    // every manifest is applied, and every one applied exists
    let mut files: Vec<String> = std::fs::read_dir(&k8s)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    files.sort();
    let mut listed = resources.clone();
    listed.sort();
    assert_eq!(listed, files);
    let docs: Vec<Value> = resources.iter().flat_map(|r| yaml_docs(&k8s.join(r))).collect();
    let namespace = kustomization["namespace"].as_str().unwrap();
    for d in &docs {
        if d["kind"] != "Namespace" {
            assert_eq!(d["metadata"]["namespace"], namespace, "{}", d["metadata"]["name"]);
        }
    }

    let deployment = find(&docs, "Deployment", "troop");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert!(deployment["spec"]["replicas"].as_u64().unwrap() >= 2, "replicas share the work");
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"],
        "the selector picks the pods"
    );

    // the config the ConfigMap carries passes `troop config check`, with the
    // environment the Deployment gives it
    let mount = container["volumeMounts"].as_array().unwrap().iter().find(|m| m["name"] == "config").unwrap();
    let volume = pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "config").unwrap();
    let configmap = find(&docs, "ConfigMap", volume["configMap"]["name"].as_str().unwrap());
    let args: Vec<&str> = container["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let config_path = args[args.iter().position(|a| *a == "-c").unwrap() + 1];
    let (dir, key) = config_path.rsplit_once('/').unwrap();
    assert_eq!(dir, mount["mountPath"].as_str().unwrap(), "-c names a file of the mounted ConfigMap");
    let toml = configmap["data"][key].as_str().unwrap_or_else(|| panic!("the ConfigMap has no {key}"));
    let ws = Workspace::new(toml);
    let mut check = ws.cmd(&["config", "check", "troop.toml"]);
    for env in container["env"].as_array().unwrap() {
        let secret = &env["valueFrom"]["secretKeyRef"];
        let s = find(&docs, "Secret", secret["name"].as_str().unwrap());
        let value = s["stringData"][secret["key"].as_str().unwrap()].as_str().expect("the Secret has the key");
        check.env(env["name"].as_str().unwrap(), value);
    }
    let checked = crate::support::Run::from(check.output().unwrap());
    checked.assert_code(0);
    // every variable the config reads, the Deployment sets
    for var in toml.split("env = \"").skip(1).map(|s| s.split('"').next().unwrap()) {
        assert!(container["env"].as_array().unwrap().iter().any(|e| e["name"] == var), "{var} is not set");
    }

    // the command exists: the image's binary, a troop verb
    let command = container["command"][0].as_str().unwrap();
    let verb = crate::support::Run::from(ws.cmd(&[args[0], "--help"]).output().unwrap());
    verb.assert_code(0);
    // ports: the config's listen, the container's port, the probes and the Service
    let listen = toml.lines().find_map(|l| l.trim().strip_prefix("listen = \"")).unwrap().trim_end_matches('"');
    let port: u64 = listen.rsplit_once(':').unwrap().1.parse().unwrap();
    let ports = container["ports"].as_array().unwrap();
    assert_eq!(ports[0]["containerPort"], port, "the container exposes what troop listens on");
    assert!(!listen.starts_with("127."), "probes reach the pod's address, not loopback: {listen}");
    let port_name = ports[0]["name"].as_str().unwrap();
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(container[probe]["httpGet"]["path"], "/healthz", "{probe}");
        assert_eq!(container[probe]["httpGet"]["port"], port_name, "{probe}");
    }
    let service = find(&docs, "Service", "troop");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], port_name);
    assert_eq!(service["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"]);
    // the AWS identity
    let account = find(&docs, "ServiceAccount", pod["serviceAccountName"].as_str().unwrap());
    assert!(
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].as_str().unwrap().starts_with("arn:aws:iam::")
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);

    // the image: built from this repository, shipped as the binary alone, as a non-root user,
    // running what the Deployment runs
    let containerfile = std::fs::read_to_string(repo().join("deploy/container/Containerfile")).unwrap();
    let stages: Vec<&str> = containerfile.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.len(), 2, "multi-stage: {stages:?}");
    assert!(stages[1].contains("distroless") && stages[1].contains("nonroot"), "{}", stages[1]);
    assert!(
        containerfile.contains(&format!("COPY --from=build /out/troop {command}")),
        "the binary lands at {command}"
    );
    let user = containerfile.lines().rev().find_map(|l| l.strip_prefix("USER ")).unwrap();
    assert!(!user.starts_with('0') && !user.starts_with("root"), "USER {user}");
    assert_eq!(user.split(':').next().unwrap(), pod["securityContext"]["runAsUser"].to_string());
    assert!(containerfile.contains(&format!("ENTRYPOINT [\"{command}\"]")));
    let cmd = serde_json::to_string(&args).unwrap().replace(",", ", ");
    assert!(containerfile.contains(&format!("CMD {cmd}")), "CMD {cmd}");
    assert!(containerfile.contains(&format!("EXPOSE {port}")));
}
