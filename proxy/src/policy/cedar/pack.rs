//! The default policy pack, built into the binary from `examples/policies/`: what blastwall
//! enforces when the configuration names no policy directory, so that `blastwall up` on its
//! defaults protects rather than allows everything.

use std::path::PathBuf;

use super::load::PolicyFile;

/// The pack's files, by name, as `examples/policies/` has them.
const FILES: [(&str, &str); 4] = [
    (
        "10-permits.cedar",
        include_str!("../../../../examples/policies/10-permits.cedar"),
    ),
    (
        "20-approvals.cedar",
        include_str!("../../../../examples/policies/20-approvals.cedar"),
    ),
    (
        "30-forbids.cedar",
        include_str!("../../../../examples/policies/30-forbids.cedar"),
    ),
    (
        "40-ssh.cedar",
        include_str!("../../../../examples/policies/40-ssh.cedar"),
    ),
];

/// The default pack's files, named `builtin/<file>`.
pub fn files() -> Vec<PolicyFile> {
    FILES
        .iter()
        .map(|(name, text)| PolicyFile {
            path: PathBuf::from("builtin").join(name),
            text: (*text).to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_pack_is_the_examples_directory() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/policies");
        let on_disk = crate::policy::cedar::load::read_dir(&dir).expect("examples/policies");
        let names: Vec<_> = on_disk.iter().map(|f| f.path.file_name()).collect();
        let built_in: Vec<_> = files()
            .iter()
            .map(|f| f.path.file_name().map(ToOwned::to_owned))
            .collect();
        assert_eq!(
            names,
            built_in.iter().map(|n| n.as_deref()).collect::<Vec<_>>()
        );
        for (disk, built) in on_disk.iter().zip(files()) {
            assert_eq!(disk.text, built.text);
        }
    }

    #[test]
    fn the_default_pack_loads() {
        let pack = crate::policy::cedar::load::load(&files()).expect("the default pack is valid");
        assert!(pack.info.len() > 10);
    }
}
