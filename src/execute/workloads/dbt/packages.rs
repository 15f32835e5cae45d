//! The dbt packages a submission asks for, resolved without a network.
//!
//! The sandbox has no network, so `dbt deps` cannot reach the package hub or a
//! git host, and dbt refuses to build a project whose `packages.yml` lists more
//! packages than `dbt_packages/` holds. The grader therefore never runs `dbt
//! deps`: it places each package into the upload's `dbt_packages/` itself, from
//!
//! - the submission, for a `local:` entry (a folder inside the submission);
//! - the submission's own `dbt_packages/<name>`, when it ships the package;
//! - the package cache, a folder of `<name>/dbt_project.yml` trees that a
//!   deployment with network fills once (`[packages] cache_dir`).
//!
//! A package none of them holds cannot be installed: the exercise tells the
//! candidate the build has no network (the starter's `packages.yml` is empty and
//! says why), so listing one is the submission's failure. dbt could not parse
//! the project; every phase fails with the package named.

use std::path::{Component, Path, PathBuf};

use crate::analyse::dbt::{PackageRef, PackageSource};

/// A package folder to copy into the upload as `dbt_packages/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    pub name: String,
    pub from: PathBuf,
}

/// What the stage does with the submission's packages.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub install: Vec<Install>,
    /// Packages the submission ships in its own `dbt_packages/`.
    pub shipped: Vec<String>,
}

/// Packages that cannot be installed offline, each with why.
#[derive(Debug, PartialEq, Eq)]
pub struct Unresolved(pub Vec<(String, String)>);

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let each: Vec<String> = self
            .0
            .iter()
            .map(|(spec, why)| format!("{spec} ({why})"))
            .collect();
        write!(
            f,
            "packages.yml lists {} that cannot be installed without a network (the exercise's \
             build has none), so dbt cannot parse the project: no phase could run",
            each.join(", ")
        )
    }
}

/// Decides where each package comes from. `project_dir` and `submission_root`
/// are host folders of the acquired submission; `cache` is the package cache.
pub fn plan(
    packages: &[PackageRef],
    project_dir: &Path,
    submission_root: &Path,
    cache: Option<&Path>,
) -> Result<Plan, Unresolved> {
    let mut plan = Plan::default();
    let mut missing = Vec::new();
    for p in packages {
        if let PackageSource::Local { path } = &p.source {
            match local_folder(path, project_dir, submission_root) {
                Ok(from) => plan.install.push(Install {
                    name: install_name(&p.name, &plan),
                    from,
                }),
                Err(why) => missing.push((p.spec.clone(), why)),
            }
            continue;
        }
        if is_package_dir(&project_dir.join("dbt_packages").join(&p.name)) {
            plan.shipped.push(p.name.clone());
            continue;
        }
        match cache.map(|c| c.join(&p.name)) {
            Some(dir) if is_plain(&p.name) && is_package_dir(&dir) => plan.install.push(Install {
                name: install_name(&p.name, &plan),
                from: dir,
            }),
            Some(_) => missing.push((
                p.spec.clone(),
                format!("not in the package cache as `{}`", p.name),
            )),
            None => missing.push((p.spec.clone(), "no package cache is set up".into())),
        }
    }
    if missing.is_empty() {
        Ok(plan)
    } else {
        Err(Unresolved(missing))
    }
}

/// The package cache in use: the configured folder, else `dbt-packages` in
/// assay's cache folder when it exists.
pub fn cache_dir(configured: Option<&Path>, cache_root: Option<&Path>) -> Option<PathBuf> {
    match configured {
        Some(dir) => Some(dir.to_path_buf()),
        None => cache_root
            .map(|r| r.join("dbt-packages"))
            .filter(|d| d.is_dir()),
    }
}

/// Two entries may end in the same folder name; each needs its own folder for
/// dbt to count it.
fn install_name(name: &str, plan: &Plan) -> String {
    let taken =
        |n: &str| plan.install.iter().any(|i| i.name == n) || plan.shipped.iter().any(|s| s == n);
    let base = if is_plain(name) {
        name.to_string()
    } else {
        "package".to_string()
    };
    let mut candidate = base.clone();
    let mut k = 2;
    while taken(&candidate) {
        candidate = format!("{base}_{k}");
        k += 1;
    }
    candidate
}

fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        && name != "."
        && name != ".."
}

/// A real folder (not a link) holding a `dbt_project.yml` file.
fn is_package_dir(dir: &Path) -> bool {
    let plain_dir = std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir());
    let project = std::fs::symlink_metadata(dir.join("dbt_project.yml")).is_ok_and(|m| m.is_file());
    plain_dir && project
}

/// A `local:` path, which the submission wrote: it must name a package folder
/// inside the submission, reached without links.
fn local_folder(path: &str, project_dir: &Path, submission_root: &Path) -> Result<PathBuf, String> {
    let given = Path::new(path);
    if given.is_absolute() {
        return Err("an absolute path points outside the submission".into());
    }
    let mut resolved = project_dir.to_path_buf();
    for part in given.components() {
        match part {
            Component::Normal(p) => {
                resolved.push(p);
                if std::fs::symlink_metadata(&resolved).is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err("the path goes through a link".into());
                }
            }
            Component::ParentDir => {
                if !resolved.pop() {
                    return Err("the path leaves the submission".into());
                }
            }
            Component::CurDir => {}
            _ => return Err("the path is not relative".into()),
        }
    }
    if !resolved.starts_with(submission_root) {
        return Err("the path leaves the submission".into());
    }
    if !is_package_dir(&resolved) {
        return Err("no dbt_project.yml in that folder of the submission".into());
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn package(dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("dbt_project.yml"), "name: p\n").unwrap();
    }

    fn hub(name: &str) -> PackageRef {
        PackageRef {
            name: name.into(),
            source: PackageSource::Hub,
            spec: format!("dbt-labs/{name} 1.1.1"),
        }
    }

    fn local(path: &str) -> PackageRef {
        PackageRef {
            name: path.rsplit('/').next().unwrap().into(),
            source: PackageSource::Local { path: path.into() },
            spec: format!("local: {path}"),
        }
    }

    #[test]
    fn hub_packages_come_from_the_cache_or_the_submission() {
        let tmp = tempfile::tempdir().unwrap();
        let (sub, cache) = (tmp.path().join("sub"), tmp.path().join("cache"));
        package(&cache.join("dbt_utils"));
        package(&sub.join("dbt_packages/audit_helper"));
        let plan = plan(
            &[hub("dbt_utils"), hub("audit_helper")],
            &sub,
            &sub,
            Some(&cache),
        )
        .unwrap();
        assert_eq!(
            plan.install,
            [Install {
                name: "dbt_utils".into(),
                from: cache.join("dbt_utils")
            }]
        );
        assert_eq!(plan.shipped, ["audit_helper"]);
    }

    #[test]
    fn a_package_nobody_holds_is_named_as_the_submissions() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        fs::create_dir_all(&cache).unwrap();
        let err = plan(&[hub("dbt_utils")], tmp.path(), tmp.path(), Some(&cache)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("cannot be installed without a network"),
            "{text}"
        );
        assert!(!text.contains("not the candidate"), "{text}");
        assert!(text.contains("dbt-labs/dbt_utils 1.1.1"), "{text}");
        let err = plan(&[hub("dbt_utils")], tmp.path(), tmp.path(), None).unwrap_err();
        assert!(err.to_string().contains("no package cache"), "{err}");
    }

    #[test]
    fn local_packages_stay_inside_the_submission() {
        let tmp = tempfile::tempdir().unwrap();
        let sub = tmp.path().join("sub");
        let project = sub.join("warehouse");
        package(&sub.join("vendor/helpers"));
        package(&tmp.path().join("outside"));
        fs::create_dir_all(&project).unwrap();
        let ok = plan(&[local("../vendor/helpers")], &project, &sub, None).unwrap();
        assert_eq!(ok.install[0].from, sub.join("vendor/helpers"));
        for escaping in ["../../outside", "/etc", "../vendor/none"] {
            let err = plan(&[local(escaping)], &project, &sub, None).unwrap_err();
            assert_eq!(err.0.len(), 1, "{escaping}");
        }
        std::os::unix::fs::symlink(tmp.path().join("outside"), sub.join("link")).unwrap();
        let err = plan(&[local("../link")], &project, &sub, None).unwrap_err();
        assert!(err.0[0].1.contains("link"), "{err:?}");
    }

    #[test]
    fn two_entries_with_one_folder_name_get_two_folders() {
        let tmp = tempfile::tempdir().unwrap();
        package(&tmp.path().join("a/helpers"));
        package(&tmp.path().join("b/helpers"));
        let got = plan(
            &[local("a/helpers"), local("b/helpers")],
            tmp.path(),
            tmp.path(),
            None,
        )
        .unwrap();
        let names: Vec<&str> = got.install.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["helpers", "helpers_2"]);
    }
}
