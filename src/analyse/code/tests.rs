use super::*;
use crate::analyse::dag::syntax;

fn scan(src: &str) -> CodeFile {
    let module = syntax::parse(src.as_bytes()).unwrap();
    scan_module("src/m.py", src, &module, true)
}

fn value_holes(f: &CodeFile) -> Vec<String> {
    f.sql
        .iter()
        .flat_map(|c| c.holes.iter())
        .filter(|h| h.is_value())
        .map(|h| h.expr.clone())
        .collect()
}

#[test]
fn values_in_quotes_are_found_through_a_local_variable() {
    let f = scan(
        r#"
def load(cursor, records, table):
    for record in records:
        sql = f"INSERT INTO {table} VALUES ('{record['a']}', '{record['b']}')"
        cursor.execute(sql)
    cursor.execute(f"SELECT * FROM {table} WHERE load_date = '{day}'")
"#,
    );
    assert_eq!(f.sql.len(), 2);
    assert_eq!(
        value_holes(&f),
        vec!["record['a']", "record['b']", "day"],
        "{:#?}",
        f.sql
    );
    assert!(!f.sql[0].bound);
}

#[test]
fn identifiers_and_placeholders_are_not_values() {
    let f = scan(
        r#"
COLUMNS = ["a", "b"]
def load(cursor, rows, table, day):
    cursor.execute(f"DELETE FROM {table} WHERE load_date = %s", (day,))
    sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    cursor.executemany(sql, rows)
"#,
    );
    assert_eq!(f.sql.len(), 2);
    assert!(value_holes(&f).is_empty(), "{:#?}", f.sql);
    assert!(f.sql.iter().all(|c| c.bound));
}

#[test]
fn percent_format_and_concatenation_are_followed() {
    let f = scan(
        r#"
def q(cur, name, n):
    cur.execute("SELECT * FROM t WHERE name = '%s'" % name)
    cur.execute("SELECT * FROM t WHERE id = {}".format(n))
    cur.execute("SELECT * FROM t WHERE x IN (" + ids + ")")
    cur.execute("INSERT INTO t VALUES (%s, %s)" % (name, n))
"#,
    );
    assert_eq!(value_holes(&f), vec!["name", "n", "ids", "name", "n"]);
}

#[test]
fn a_converter_is_recorded_for_the_rubric_to_judge() {
    let f = scan(
        r#"
def copy(cur, load_date):
    day = dt.date.fromisoformat(str(load_date)).isoformat()
    cur.execute(f"COPY INTO t FROM (SELECT '{day}'::DATE FROM @s)")
"#,
    );
    let h = &f.sql[0].holes[0];
    assert!(h.quoted);
    assert_eq!(h.converted_by.as_deref(), Some("isoformat"));
}

#[test]
fn broad_clauses_that_carry_on_swallow_and_others_do_not() {
    let f = scan(
        r#"
import logging
log = logging.getLogger(__name__)

def a():
    try:
        work()
    except Exception as e:
        print("failed", e)
        return []

def b():
    try:
        work()
    except:
        rollback()
        raise

def c():
    try:
        work()
    except Exception:
        log.exception("rollback failed")

def d():
    try:
        work()
    except (TypeError, ValueError):
        pass

def e():
    for attempt in range(3):
        try:
            return work()
        except Exception:
            time.sleep(2 ** attempt)
    raise RuntimeError("gave up")

def f(records):
    for r in records:
        try:
            insert(r)
        except:
            print("could not insert", r)

def g():
    for _ in range(1):
        try:
            return work()
        except Exception:
            pass
"#,
    );
    let swallowed: Vec<u32> = f
        .caught
        .iter()
        .filter(|c| c.swallows())
        .map(|c| c.site.span.start)
        .collect();
    assert_eq!(f.caught.len(), 7);
    // g: a loop that never surfaces the error is no retry
    assert_eq!(swallowed, vec![8, 43, 50], "{:#?}", f.caught);
}

#[test]
fn requests_without_timeout_are_found_sessions_included() {
    let f = scan(
        r#"
import requests as rq
from requests import get

def a(url):
    return rq.get(url, params={"x": 1})

def b(url):
    return get(url, timeout=10)

def c(url, **kw):
    with rq.Session() as s:
        s.get(url)
        s.post(url, **kw)

def d(session, url):
    return session.get(url)
"#,
    );
    let got: Vec<(String, Timeout)> = f.http.iter().map(|h| (h.call.clone(), h.timeout)).collect();
    assert_eq!(
        got,
        vec![
            ("rq.get".to_string(), Timeout::Missing),
            ("get".to_string(), Timeout::Given),
            ("s.get".to_string(), Timeout::Missing),
            ("s.post".to_string(), Timeout::Unknown),
        ]
    );
}

#[test]
fn product_modules_exclude_dags_and_tests() {
    let dags = vec!["dags/flight_data.py".to_string()];
    assert!(is_product_module("src/snowflake.py", &dags));
    assert!(!is_product_module("dags/flight_data.py", &dags));
    assert!(!is_product_module("tests/test_load.py", &dags));
    assert!(!is_product_module("src/test_load.py", &dags));
    assert!(!is_product_module("conftest.py", &dags));
    assert!(!is_product_module("README.md", &dags));
}

#[test]
fn an_environment_variable_name_is_no_credential_but_a_literal_password_is() {
    let f = scan(
        r#"
_REQUIRED_ENV = {"user": "SNOWFLAKE_USER", "password": "SNOWFLAKE_PASSWORD"}

def connect():
    return snowflake.connector.connect(user="loader", password="fake-password-not-real-123")
"#,
    );
    let lines: Vec<u32> = f.credentials.iter().map(|s| s.span.start).collect();
    assert_eq!(lines, vec![5], "{:#?}", f.credentials);
    assert!(!f.credentials[0].snippet.contains("fake-password"));
}
