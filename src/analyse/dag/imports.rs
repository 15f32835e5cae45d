//! The submission's own Python modules a DAG file imports: a PythonOperator's
//! callable or a `@task` often lives in `helpers.py` or `include/transform.py`,
//! and what it does counts as much as code written in the DAG file itself.
//!
//! Resolution reads only the inventory's list of files (regular files; the
//! inventory never lists symlinks) and builds candidate paths from Python
//! identifiers, so an import can never name a path outside the submission.
//! Modules that are not in the submission (pandas, airflow, providers) are not
//! followed. Each followed module is parsed by the same contained parser as the
//! DAG file, within limits of depth, count and bytes; an import that resolves
//! but is not followed is recorded with the reason.

use std::collections::{BTreeSet, HashMap, VecDeque};

use super::model::{Site, Span};
use super::syntax::{Module, Stmt};

/// One module of the evaluation: the DAG file (index 0) or a module it reaches.
pub(crate) struct Loaded {
    pub path: String,
    pub source: String,
    pub module: Module,
}

/// The DAG file and the submission modules it reaches through imports.
pub(crate) struct ImportGraph {
    pub modules: Vec<Loaded>,
    /// Per module: import key as written (`transform`, `.helpers`,
    /// `include.transform.build_marts`) → the module it names.
    pub links: Vec<HashMap<String, usize>>,
    /// Imports of the submission's own modules that were not followed.
    pub unfollowed: Vec<Site>,
}

/// Bounds on following imports.
#[derive(Debug, Clone)]
pub struct ImportLimits {
    /// Imports of imports followed (1: only what the DAG file imports).
    pub max_depth: usize,
    /// Modules followed per DAG file.
    pub max_files: usize,
    /// Bytes of module source read per DAG file, all modules together.
    pub max_bytes: u64,
    /// Larger modules are not read.
    pub max_file_bytes: u64,
}

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits {
            max_depth: 3,
            max_files: 24,
            max_bytes: 2 * 1024 * 1024,
            max_file_bytes: 512 * 1024,
        }
    }
}

/// Where an import's module is found and how: `Ok(path)` or why not.
pub(crate) trait Source {
    /// Whether the submission holds this file (a regular file the inventory lists).
    fn has(&self, path: &str) -> bool;
    /// The file's text and parsed module, or why it cannot be had.
    fn load(&mut self, path: &str, max_bytes: u64) -> Result<(String, Module), String>;
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn dir_of(path: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    parts
}

/// The submission file an import key names, seen from `importer`. A key with
/// leading dots is relative to the importer's package; an absolute key is
/// looked up beside the importer and in each folder above it, as Airflow puts
/// the DAG folder (and deployments the project root) on `sys.path`.
pub(crate) fn resolve(has: &dyn Fn(&str) -> bool, importer: &str, key: &str) -> Option<String> {
    let level = key.chars().take_while(|c| *c == '.').count();
    let parts: Vec<&str> = key[level..].split('.').filter(|p| !p.is_empty()).collect();
    if !parts.iter().all(|p| is_identifier(p)) {
        return None;
    }
    if level == 0 && (parts.is_empty() || parts[0] == "airflow") {
        return None;
    }
    let dir = dir_of(importer);
    let bases: Vec<Vec<&str>> = if level > 0 {
        let up = level - 1;
        if up > dir.len() {
            return None;
        }
        vec![dir[..dir.len() - up].to_vec()]
    } else {
        (0..=dir.len()).rev().map(|n| dir[..n].to_vec()).collect()
    };
    for base in bases {
        let mut stem: Vec<&str> = base.clone();
        stem.extend(&parts);
        if stem.is_empty() {
            continue;
        }
        let file = format!("{}.py", stem.join("/"));
        if has(&file) {
            return Some(file);
        }
        let init = format!("{}/__init__.py", stem.join("/"));
        if has(&init) {
            return Some(init);
        }
    }
    None
}

/// Every import key a module's code can execute, with the line it is on:
/// module level and inside functions (imports in a callable's body are the
/// usual way to keep parsing light).
pub(crate) fn import_keys(body: &[Stmt]) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    collect(body, &mut out, 0);
    out
}

fn collect(body: &[Stmt], out: &mut Vec<(String, u32)>, depth: usize) {
    if depth > 32 {
        return;
    }
    for s in body {
        match s {
            Stmt::Import { names, span } => {
                for (module, _) in names {
                    // `import a.b.c` binds `a`; `a.b` and `a.b.c` are reached by attribute.
                    let parts: Vec<&str> = module.split('.').collect();
                    for n in 1..=parts.len() {
                        out.push((parts[..n].join("."), span.start));
                    }
                }
            }
            Stmt::ImportFrom {
                module,
                names,
                span,
            } => {
                out.push((module.clone(), span.start));
                for (name, _) in names {
                    if name != "*" {
                        out.push((submodule_key(module, name), span.start));
                    }
                }
            }
            Stmt::With { body, .. }
            | Stmt::Def { body, .. }
            | Stmt::Class { body, .. }
            | Stmt::For { body, .. }
            | Stmt::Block { body, .. } => collect(body, out, depth + 1),
            Stmt::If { body, orelse, .. } => {
                collect(body, out, depth + 1);
                collect(orelse, out, depth + 1);
            }
            _ => {}
        }
    }
}

/// The key of `from <module> import <name>` when `name` is a submodule.
pub(crate) fn submodule_key(module: &str, name: &str) -> String {
    if module.chars().all(|c| c == '.') {
        format!("{module}{name}")
    } else {
        format!("{module}.{name}")
    }
}

/// Follows the imports of the DAG file at `path` into the submission's modules.
pub(crate) fn follow(
    path: &str,
    source: String,
    module: Module,
    src: &mut dyn Source,
    limits: &ImportLimits,
) -> ImportGraph {
    let mut g = ImportGraph {
        modules: vec![Loaded {
            path: path.to_string(),
            source,
            module,
        }],
        links: vec![HashMap::new()],
        unfollowed: Vec::new(),
    };
    let mut bytes: u64 = 0;
    let mut refused: BTreeSet<String> = BTreeSet::new();
    let mut queue = VecDeque::from([(0usize, 0usize)]);
    while let Some((i, depth)) = queue.pop_front() {
        let keys = import_keys(&g.modules[i].module.body);
        let importer = g.modules[i].path.clone();
        for (key, line) in keys {
            let Some(file) = resolve(&|p| src.has(p), &importer, &key) else {
                continue;
            };
            if file == importer {
                continue;
            }
            if let Some(j) = g.modules.iter().position(|m| m.path == file) {
                g.links[i].insert(key, j);
                continue;
            }
            if refused.contains(&file) {
                continue;
            }
            let why = if depth + 1 > limits.max_depth {
                Some(format!(
                    "imports nested deeper than {} modules are not followed",
                    limits.max_depth
                ))
            } else if g.modules.len() > limits.max_files {
                Some(format!(
                    "more than {} imported modules per DAG file are not followed",
                    limits.max_files
                ))
            } else {
                None
            };
            let loaded = match why {
                Some(why) => Err(why),
                None => src.load(&file, limits.max_file_bytes).and_then(|(text, m)| {
                    bytes += text.len() as u64;
                    if bytes > limits.max_bytes {
                        Err(format!(
                            "the imported modules exceed {} bytes in all; the rest are not followed",
                            limits.max_bytes
                        ))
                    } else {
                        Ok((text, m))
                    }
                }),
            };
            match loaded {
                Ok((text, m)) => {
                    g.modules.push(Loaded {
                        path: file,
                        source: text,
                        module: m,
                    });
                    g.links.push(HashMap::new());
                    let j = g.modules.len() - 1;
                    g.links[i].insert(key, j);
                    queue.push_back((j, depth + 1));
                }
                Err(why) => {
                    refused.insert(file.clone());
                    g.unfollowed.push(Site {
                        file: importer.clone(),
                        span: Span {
                            start: line,
                            end: line,
                        },
                        snippet: super::eval::snippet_of(
                            &g.modules[i].source.lines().collect::<Vec<_>>(),
                            Span {
                                start: line,
                                end: line,
                            },
                        )
                        .trim()
                        .to_string(),
                        what: format!("`{key}` ({file}) was not analysed: {why}"),
                    });
                }
            }
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has<'a>(files: &'a [&'a str]) -> impl Fn(&str) -> bool + 'a {
        move |p| files.contains(&p)
    }

    #[test]
    fn absolute_relative_and_package_imports_resolve_inside_the_submission() {
        let files = [
            "dags/pipeline.py",
            "dags/helpers.py",
            "dags/lib/__init__.py",
            "dags/lib/transform.py",
            "include/marts.py",
        ];
        let h = has(&files);
        assert_eq!(
            resolve(&h, "dags/pipeline.py", "helpers").as_deref(),
            Some("dags/helpers.py")
        );
        assert_eq!(
            resolve(&h, "dags/pipeline.py", ".helpers").as_deref(),
            Some("dags/helpers.py")
        );
        assert_eq!(
            resolve(&h, "dags/pipeline.py", "lib").as_deref(),
            Some("dags/lib/__init__.py")
        );
        assert_eq!(
            resolve(&h, "dags/lib/transform.py", "..helpers").as_deref(),
            Some("dags/helpers.py")
        );
        assert_eq!(
            resolve(&h, "dags/pipeline.py", "include.marts").as_deref(),
            Some("include/marts.py")
        );
        // third-party and Airflow's own modules are never followed
        assert_eq!(resolve(&h, "dags/pipeline.py", "pandas"), None);
        assert_eq!(resolve(&h, "dags/pipeline.py", "airflow.models"), None);
    }

    #[test]
    fn no_import_escapes_the_submission() {
        let files = ["pipeline.py", "secret.py"];
        let h = has(&files);
        // more leading dots than folders: above the submission root
        assert_eq!(resolve(&h, "pipeline.py", "...secret"), None);
        assert_eq!(resolve(&h, "dags/x/pipeline.py", "....secret"), None);
        // only identifiers make a path
        assert_eq!(resolve(&h, "pipeline.py", "../secret"), None);
        assert_eq!(resolve(&h, "pipeline.py", "/etc/passwd"), None);
    }
}
