//! Each dbt check on small projects that pass and fail it, run through the real
//! analyser (in-process: these inputs are trusted) with the rubric's own params.

use std::path::Path;

use super::*;
use crate::acquire::SourceKind;
use crate::analyse::dbt::{analyse_with, Isolation};
use crate::checks::{Check, CheckContext, Outcome, Params};
use crate::facts::{Facts, SubmissionFacts};
use crate::inventory::Inventory;

const PROJECT: (&str, &str) = ("dbt_project.yml", "name: m\nprofile: m\n");

fn facts(files: &[(&str, &str)]) -> (tempfile::TempDir, Facts) {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in std::iter::once(&PROJECT).chain(files) {
        let target = dir.path().join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, content).unwrap();
    }
    let inventory = Inventory::build(dir.path()).unwrap();
    let dbt = analyse_with(&inventory, Isolation::InProcess);
    let facts = Facts {
        submission: SubmissionFacts {
            name: "t".into(),
            kind: SourceKind::Folder,
            commit: None,
            starter_compared: false,
        },
        inventory,
        history: None,
        dbt,
        dag: Default::default(),
        code: Default::default(),
        docs: Default::default(),
        review: None,
        execution: None,
    };
    (dir, facts)
}

fn params(id: &str) -> Params {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rubric/marketplace-elt.toml");
    let rubric = crate::rubric::Rubric::load(&path, &crate::grade::is_known_check).unwrap();
    rubric
        .dimensions
        .iter()
        .flat_map(|d| d.criteria.iter())
        .find(|c| c.check == id)
        .map(|c| c.params.clone())
        .unwrap_or_default()
}

fn run(check: &dyn Check, files: &[(&str, &str)]) -> Outcome {
    let (_dir, f) = facts(files);
    let p = params(check.meta().id);
    let r = check.run(&CheckContext {
        facts: &f,
        params: &p,
    });
    eprintln!(
        "{}: {:?} {} {:#?}",
        r.check, r.outcome, r.summary, r.evidence
    );
    r.outcome
}

const MODEL: (&str, &str) = (
    "models/marts/fct_orders.sql",
    "select order_id, buyer_id, status from {{ ref('stg_orders') }}\n",
);

#[test]
fn primary_keys_recognise_dbt_utils_and_dbt_expectations() {
    let yml = "version: 2\nmodels:\n  - name: fct_orders\n    data_tests:\n      - dbt_utils.unique_combination_of_columns:\n          arguments:\n            combination_of_columns: [order_id]\n    columns:\n      - name: order_id\n        data_tests:\n          - dbt_expectations.expect_column_values_to_not_be_null\n";
    assert_eq!(
        run(&PrimaryKeyTests, &[MODEL, ("models/marts/_m.yml", yml)]),
        Outcome::Pass
    );
    let half = "version: 2\nmodels:\n  - name: fct_orders\n    columns:\n      - name: order_id\n        tests: [unique]\n";
    assert_eq!(
        run(&PrimaryKeyTests, &[MODEL, ("models/marts/_m.yml", half)]),
        Outcome::from_fraction(0.5)
    );
    assert_eq!(run(&PrimaryKeyTests, &[MODEL]), Outcome::Fail);
}

#[test]
fn relationships_and_accepted_values_in_every_spelling() {
    let yml = "version: 2\nmodels:\n  - name: fct_orders\n    columns:\n      - name: buyer_id\n        data_tests:\n          - dbt_utils.relationships_where:\n              to: ref('dim_users')\n              field: user_id\n      - name: status\n        data_tests:\n          - dbt_expectations.expect_column_values_to_be_in_set:\n              value_set: [a]\n";
    let files = [MODEL, ("models/marts/_m.yml", yml)];
    assert_eq!(run(&RelationshipTests, &files), Outcome::Pass);
    assert!(matches!(
        run(&AcceptedValues, &files),
        Outcome::Partial { .. }
    ));
    assert_eq!(run(&RelationshipTests, &[MODEL]), Outcome::Fail);
    assert_eq!(run(&AcceptedValues, &[MODEL]), Outcome::Fail);
}

#[test]
fn singular_tests_must_read_data_under_a_condition() {
    let good = (
        "tests/a.sql",
        "select order_id from {{ ref('fct_orders') }} where confirmed_at_utc < created_at_utc\n",
    );
    let good2 = ("tests/b.sql", "select buyer_id, count(*) from {{ ref('fct_orders') }} group by buyer_id having count(*) > 100\n");
    assert_eq!(run(&SingularTests, &[MODEL, good, good2]), Outcome::Pass);
    let empty = ("tests/a.sql", "-- dedup row_number qualify timezone\nselect order_id from {{ ref('fct_orders') }} where false\n");
    let nothing = ("tests/b.sql", "select 1 where 1 = 0\n");
    assert_eq!(run(&SingularTests, &[MODEL, empty, nothing]), Outcome::Fail);
}

#[test]
fn freshness_needs_a_loaded_at_field() {
    let good = "version: 2\nsources:\n  - name: marketplace\n    loaded_at_field: _airbyte_extracted_at\n    freshness:\n      warn_after: {count: 1, period: day}\n    tables:\n      - name: orders\n      - name: categories\n        freshness: null\n";
    assert_eq!(
        run(&SourceFreshness, &[("models/sources.yml", good)]),
        Outcome::Pass
    );
    let bad = "version: 2\nsources:\n  - name: marketplace\n    freshness:\n      warn_after: {count: 1, period: day}\n    tables:\n      - name: orders\n";
    assert_eq!(
        run(&SourceFreshness, &[("models/sources.yml", bad)]),
        Outcome::Fail
    );
}

#[test]
fn select_star_in_marts_tells_import_ctes_from_a_final_star() {
    let import_cte = ("models/marts/fct_orders.sql", "with orders as (select * from {{ ref('stg_orders') }}),\nfinal as (select order_id, status from orders)\nselect * from final\n");
    assert_eq!(run(&NoSelectStarInMarts, &[import_cte]), Outcome::Pass);
    let star = (
        "models/marts/fct_orders.sql",
        "with orders as (select * from {{ ref('stg_orders') }})\nselect * from orders\n",
    );
    assert_eq!(run(&NoSelectStarInMarts, &[star]), Outcome::Fail);
}

#[test]
fn hard_coded_relations_and_layer_naming() {
    let hard = (
        "models/marts/fct_orders.sql",
        "select order_id from raw.orders\n",
    );
    assert_eq!(run(&NoHardcodedRelations, &[hard]), Outcome::Fail);
    assert_eq!(run(&NoHardcodedRelations, &[MODEL]), Outcome::Pass);
    assert_eq!(run(&LayerNaming, &[MODEL]), Outcome::Pass);
    let misplaced = (
        "models/staging/fct_orders.sql",
        "select 1 as x from {{ source('marketplace', 'orders') }}\n",
    );
    assert_eq!(run(&LayerNaming, &[misplaced]), Outcome::Fail);
}

#[test]
fn layer_boundaries_and_staging_per_source() {
    let stg = (
        "models/staging/stg_orders.sql",
        "select order_id from {{ source('marketplace', 'orders') }}\n",
    );
    assert_eq!(run(&LayerBoundaries, &[stg, MODEL]), Outcome::Pass);
    let raw_mart = (
        "models/marts/fct_x.sql",
        "select 1 as x from {{ source('marketplace', 'orders') }}\n",
    );
    let raw_mart2 = (
        "models/marts/dim_x.sql",
        "select 1 as x from {{ source('marketplace', 'users') }}\n",
    );
    assert_eq!(
        run(&LayerBoundaries, &[stg, raw_mart, raw_mart2]),
        Outcome::Fail
    );
    assert!(matches!(
        run(&StagingPerSource, &[stg]),
        Outcome::Partial { .. }
    ));
    assert_eq!(run(&StagingPerSource, &[MODEL]), Outcome::NotAttempted);
    let named = run(&StagingPerSource, &[stg]).credit().unwrap();
    let star = (
        "models/staging/stg_orders.sql",
        "select * from {{ source('marketplace', 'orders') }}\n",
    );
    let passthrough = run(&StagingPerSource, &[star]).credit().unwrap();
    assert!(
        passthrough > 0.0 && passthrough < named,
        "{passthrough} vs {named}"
    );
}

#[test]
fn mart_descriptions_cover_the_columns_the_sql_outputs() {
    let yml = "version: 2\nmodels:\n  - name: fct_orders\n    description: One row per order.\n    columns:\n      - name: order_id\n        description: Key.\n      - name: buyer_id\n        description: Buyer.\n      - name: status\n        description: Status.\n";
    assert_eq!(
        run(&MartDescriptions, &[MODEL, ("models/marts/_m.yml", yml)]),
        Outcome::Pass
    );
    assert_eq!(run(&MartDescriptions, &[MODEL]), Outcome::Fail);
}

const INCREMENTAL: &str = "{{ config(materialized='incremental', unique_key='product_id') }}\nselect product_id, updated_at from {{ ref('stg_products') }}\n{% if is_incremental() %}\nwhere updated_at > (select max(updated_at) from {{ this }})\n{% endif %}\n";

#[test]
fn incremental_models_and_a_watermark_a_future_timestamp_stalls() {
    let stg = (
        "models/staging/stg_products.sql",
        "select product_id, updated_at from {{ source('marketplace', 'products') }}\n",
    );
    let inc = ("models/marts/dim_products.sql", INCREMENTAL);
    assert_eq!(run(&IncrementalModels, &[stg, inc]), Outcome::Pass);
    assert_eq!(run(&FutureTimestamps, &[stg, inc]), Outcome::Fail);
    let capped = ("models/staging/stg_products.sql", "select product_id, least(updated_at, _airbyte_extracted_at) as updated_at from {{ source('marketplace', 'products') }}\n");
    assert_eq!(run(&FutureTimestamps, &[capped, inc]), Outcome::Pass);
    let no_key = ("models/marts/dim_products.sql", "{{ config(materialized='incremental') }}\nselect product_id from {{ ref('stg_products') }}\n");
    assert_eq!(run(&IncrementalModels, &[stg, no_key]), Outcome::Fail);
}

#[test]
fn event_log_reviews_currency_and_timezone_partial_handling() {
    let by_arrival = ("models/intermediate/int_state.sql", "select * from {{ source('marketplace', 'event_log') }} qualify row_number() over (partition by entity_id order by recorded_at desc) = 1\n");
    assert_eq!(run(&EventLogOrder, &[by_arrival]), Outcome::Fail);
    let by_seq = ("models/intermediate/int_state.sql", "select * from {{ source('marketplace', 'event_log') }} qualify row_number() over (partition by entity_id order by sequence_number desc) = 1\n");
    assert_eq!(run(&EventLogOrder, &[by_seq]), Outcome::Pass);

    let reviews = (
        "models/staging/stg_reviews.sql",
        "select review_id, order_id, product_id from {{ source('marketplace', 'reviews') }}\n",
    );
    let orders = (
        "models/staging/stg_orders.sql",
        "select order_id from {{ source('marketplace', 'orders') }}\n",
    );
    let items = (
        "models/staging/stg_order_items.sql",
        "select order_id, product_id from {{ source('marketplace', 'order_items') }}\n",
    );
    let by_order = ("models/marts/fct_reviews.sql", "select r.review_id, o.order_id is not null as verified from {{ ref('stg_reviews') }} r left join {{ ref('stg_orders') }} o on o.order_id = r.order_id\n");
    assert_eq!(
        run(&OrphanReviews, &[reviews, orders, by_order]),
        Outcome::from_fraction(0.5)
    );
    let by_item = ("models/marts/fct_reviews.sql", "with i as (select distinct order_id, product_id from {{ ref('stg_order_items') }})\nselect r.review_id, i.order_id is not null as verified from {{ ref('stg_reviews') }} r left join i on i.order_id = r.order_id and i.product_id = r.product_id\n");
    assert_eq!(
        run(&OrphanReviews, &[reviews, items, by_item]),
        Outcome::Pass
    );

    let stg = ("models/staging/stg_orders.sql", "select order_id, currency, order_total, created_at, confirmed_at at time zone 'UTC' as confirmed_at_utc from {{ source('marketplace', 'orders') }}\n");
    let one_rate = ("models/marts/fct_orders.sql", "select o.order_id, o.order_total * r.rate_to_usd as order_total_usd from {{ ref('stg_orders') }} o join {{ ref('exchange_rates') }} r on r.currency = o.currency\n");
    let seed = (
        "seeds/exchange_rates.csv",
        "currency,month,rate_to_usd\nUSD,2026-01-01,1.0\n",
    );
    assert_eq!(
        run(&CurrencyByMonth, &[stg, one_rate, seed]),
        Outcome::from_fraction(0.5)
    );
    assert_eq!(
        run(&ConfirmedAtTimezone, &[stg, one_rate, seed]),
        Outcome::Fail
    );
}

/// Every contract model of the rubric, each selecting its required columns
/// (read from the rubric, so the test follows the contract).
fn full_contract(hollow: Option<&str>) -> Vec<(String, String)> {
    params("dbt.contract_models")
        .string_lists("columns")
        .unwrap()
        .into_iter()
        .map(|(name, cols)| {
            let sql = if Some(name.as_str()) == hollow {
                "-- order_id, buyer_id, status: all here\nselect 1 as placeholder\n".to_string()
            } else {
                format!(
                    "select {} from {{{{ ref('upstream') }}}}\n",
                    cols.join(", ")
                )
            };
            (format!("models/marts/{name}.sql"), sql)
        })
        .collect()
}

fn as_files(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

#[test]
fn contract_models_need_their_columns_not_only_their_names() {
    let full = full_contract(None);
    assert_eq!(run(&ContractModels, &as_files(&full)), Outcome::Pass);
    // A file under the contract's name whose SQL lacks the contract's columns
    // (they are only named in a comment) earns the file's share alone.
    let hollow = full_contract(Some("fct_orders"));
    match run(&ContractModels, &as_files(&hollow)) {
        Outcome::Partial { fraction } => {
            let p = params("dbt.contract_models");
            let file = p.float("file_credit").unwrap();
            let n = full.len() as f64;
            assert!((fraction - (n - 1.0 + file) / n).abs() < 1e-9, "{fraction}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        run(
            &ContractModels,
            &[("models/marts/other.sql", "select 1 as x\n")]
        ),
        Outcome::NotAttempted
    );
}

#[test]
fn contract_columns_are_followed_through_stars_into_ctes_and_models() {
    let (_dir, f) = facts(&[
        (
            "models/staging/stg_payments.sql",
            "with source as (select * from {{ source('m', 'payments') }}),\nrenamed as (select event_id, order_id, lower(event_type) as event_type, amount, currency, event_at from source)\nselect * from renamed\n",
        ),
        ("models/marts/fct_payments.sql", "select *, amount * 1.0 as amount_usd from {{ ref('stg_payments') }}\n"),
        ("models/marts/raw_star.sql", "select * from {{ source('m', 'payments') }}\n"),
    ]);
    let p = f.dbt.main_project().unwrap();
    assert_eq!(
        p.model_columns("fct_payments").unwrap(),
        [
            "event_id",
            "order_id",
            "event_type",
            "amount",
            "currency",
            "event_at",
            "amount_usd"
        ]
    );
    // A star over a source names no columns.
    assert_eq!(p.model_columns("raw_star"), None);
}

#[test]
fn mart_descriptions_that_claim_work_the_sql_does_not_do_earn_nothing() {
    let described = |model_desc: &str| {
        format!(
            "version: 2\nmodels:\n  - name: fct_orders\n    description: {model_desc}\n    columns:\n      - name: order_id\n        description: Key.\n      - name: buyer_id\n        description: Buyer.\n      - name: status\n        description: Status.\n"
        )
    };
    let model_weight = params("dbt.mart_descriptions")
        .float("model_weight")
        .unwrap();
    // The SQL keeps every row: "deduplicated" is false, so only the columns count.
    let false_claim = described("Orders, deduplicated on order_id.");
    assert_eq!(
        run(
            &MartDescriptions,
            &[MODEL, ("models/marts/_m.yml", &false_claim)]
        ),
        Outcome::from_fraction(1.0 - model_weight)
    );
    // The same words over SQL that does keep one row per order.
    let dedup = (
        "models/marts/fct_orders.sql",
        "select order_id, buyer_id, status from {{ ref('stg_orders') }}\nqualify row_number() over (partition by order_id order by updated_at desc) = 1\n",
    );
    assert_eq!(
        run(
            &MartDescriptions,
            &[dedup, ("models/marts/_m.yml", &false_claim)]
        ),
        Outcome::Pass
    );
    // A flag claimed as soft-delete handling but written as a constant.
    let flag = (
        "models/marts/dim_users.sql",
        "select user_id, false as is_deleted from {{ ref('stg_users') }}\n",
    );
    let yml = "version: 2\nmodels:\n  - name: dim_users\n    description: Users.\n    columns:\n      - name: user_id\n        description: Key.\n      - name: is_deleted\n        description: Soft-deleted users are flagged here.\n";
    assert_eq!(
        run(&MartDescriptions, &[flag, ("models/marts/_u.yml", yml)]),
        Outcome::from_fraction(model_weight + (1.0 - model_weight) * 0.5)
    );
}

#[test]
fn trap_tests_need_the_right_test_on_the_handled_column() {
    let payments = (
        "models/marts/fct_payments.sql",
        "select event_id, order_id from {{ ref('stg_payments') }}\n",
    );
    let traps = params("dbt.trap_tests").0["traps"]
        .as_array()
        .unwrap()
        .len() as f64;
    let yml = |tests: &str| {
        format!("version: 2\nmodels:\n  - name: fct_payments\n    columns:\n      - name: event_id\n        data_tests: [{tests}]\n")
    };
    // `unique` on the deduplicated key guards T1.
    let unique = yml("unique");
    assert_eq!(
        run(&TrapTests, &[payments, ("models/marts/_p.yml", &unique)]),
        Outcome::from_fraction(1.0 / traps)
    );
    // not_null there does not: the rubric asks for a uniqueness test.
    let not_null = yml("not_null");
    assert_eq!(
        run(&TrapTests, &[payments, ("models/marts/_p.yml", &not_null)]),
        Outcome::Fail
    );
    // A singular test reading the model counts only when it can fail.
    let vacuous = (
        "tests/assert_p.sql",
        "select event_id from {{ ref('fct_payments') }} where 1 = 0\n",
    );
    assert_eq!(run(&TrapTests, &[payments, vacuous]), Outcome::Fail);
    let real = (
        "tests/assert_p.sql",
        "select event_id from {{ ref('fct_payments') }} group by event_id having count(*) > 1\n",
    );
    assert_eq!(
        run(&TrapTests, &[payments, real]),
        Outcome::from_fraction(1.0 / traps)
    );
    assert_eq!(
        run(&TrapTests, &[("models/other.sql", "select 1 as x\n")]),
        Outcome::NotAttempted
    );
}

#[test]
fn tests_dbt_never_runs_earn_nothing() {
    let payments = (
        "models/marts/fct_payments.sql",
        "select event_id, order_id from {{ source('marketplace', 'payments') }}\n",
    );
    let unique_on = |model: &str, extra: &str| {
        format!("version: 2\nmodels:\n  - name: {model}\n{extra}    columns:\n      - name: event_id\n        data_tests: [unique, not_null]\n")
    };
    // the passing case: the test is on a model that exists and runs
    let live = unique_on("fct_payments", "");
    assert!(run(&TrapTests, &[payments, ("models/marts/_p.yml", &live)]).credit() > Some(0.0));
    // a test on a model that does not exist (no fct_payments.sql)
    assert_eq!(
        run(&TrapTests, &[("models/marts/_p.yml", &live)]),
        Outcome::NotAttempted
    );
    let other = (
        "models/marts/fct_orders.sql",
        "select order_id from {{ source('marketplace', 'orders') }}\n",
    );
    let orphan = format!(
        "{}  - name: fct_orders\n    columns:\n      - name: order_id\n        data_tests: [unique, not_null]\n",
        unique_on("fct_payments_v2", "")
    );
    assert_eq!(
        run(&TrapTests, &[other, ("models/marts/_p.yml", &orphan)]),
        Outcome::Fail
    );
    // a model disabled in its properties or its config() block
    let off_yaml = unique_on("fct_payments", "    config:\n      enabled: false\n");
    assert_eq!(
        run(
            &TrapTests,
            &[payments, other, ("models/marts/_p.yml", &off_yaml)]
        ),
        Outcome::Fail
    );
    let off_sql = (
        "models/marts/fct_payments.sql",
        "{{ config(enabled=false) }}\nselect event_id, order_id from {{ source('marketplace', 'payments') }}\n",
    );
    assert_eq!(
        run(
            &TrapTests,
            &[off_sql, other, ("models/marts/_p.yml", &live)]
        ),
        Outcome::Fail
    );
    // a disabled test
    let off_test = "version: 2\nmodels:\n  - name: fct_payments\n    columns:\n      - name: event_id\n        data_tests:\n          - unique:\n              config:\n                enabled: false\n";
    assert_eq!(
        run(&TrapTests, &[payments, ("models/marts/_p.yml", off_test)]),
        Outcome::Fail
    );
    let off_pk = "version: 2\nmodels:\n  - name: fct_orders\n    columns:\n      - name: order_id\n        data_tests:\n          - unique:\n              config:\n                enabled: false\n          - not_null:\n              config:\n                enabled: false\n";
    assert_eq!(
        run(&PrimaryKeyTests, &[MODEL, ("models/marts/_m.yml", off_pk)]),
        Outcome::Fail
    );
    // a disabled singular test, and one reading a model that does not exist
    let real =
        "select event_id from {{ ref('fct_payments') }} group by event_id having count(*) > 1\n";
    assert!(run(&TrapTests, &[payments, ("tests/a.sql", real)]).credit() > Some(0.0));
    let disabled = format!("{{{{ config(enabled=false) }}}}\n{real}");
    assert_eq!(
        run(&TrapTests, &[payments, ("tests/a.sql", &disabled)]),
        Outcome::Fail
    );
    let missing = "select event_id from {{ ref('fct_payments_old') }} group by event_id having count(*) > 1\n";
    assert_eq!(
        run(
            &SingularTests,
            &[payments, ("tests/a.sql", missing), ("tests/b.sql", missing)]
        ),
        Outcome::Fail
    );
}

#[test]
fn constant_false_filters_make_a_singular_test_vacuous() {
    let pass = [
        (
            "tests/a.sql",
            "select order_id from {{ ref('fct_orders') }} where status = 'x' and buyer_id is null\n",
        ),
        (
            "tests/b.sql",
            "select order_id from {{ ref('fct_orders') }} where 1 = 1 and order_id is null\n",
        ),
    ];
    assert_eq!(
        run(&SingularTests, &[MODEL, pass[0], pass[1]]),
        Outcome::Pass
    );
    for vacuous in [
        "where status = 'x' and false",
        "where 1 = 0 and status = 'x'",
        "where 1 <> 1",
        "where null",
        "where status = null",
        "where not (1 = 1) or (false and status = 'x')",
    ] {
        let sql = format!("select order_id from {{{{ ref('fct_orders') }}}} {vacuous}\n");
        let cte = format!(
            "with bad as (select order_id from {{{{ ref('fct_orders') }}}} {vacuous})\nselect * from bad\n"
        );
        assert_eq!(
            run(
                &SingularTests,
                &[MODEL, ("tests/a.sql", &sql), ("tests/b.sql", &cte)]
            ),
            Outcome::Fail,
            "{vacuous}"
        );
    }
}

#[test]
fn trap_tests_are_found_on_the_whole_lineage_and_in_unit_and_custom_tests() {
    let traps = params("dbt.trap_tests").0["traps"]
        .as_array()
        .unwrap()
        .len() as f64;
    let one = Outcome::from_fraction(1.0 / traps);
    // the candidate's own names: no model the rubric names
    let dedup = (
        "models/silver/payments_deduped.sql",
        "select event_id, order_id from {{ source('marketplace', 'payments') }} qualify row_number() over (partition by event_id order by received_at) = 1\n",
    );
    let unrelated = (
        "models/silver/orders_clean.sql",
        "select order_id, event_id from {{ source('marketplace', 'orders') }}\n",
    );
    let yml = |model: &str| {
        format!("version: 2\nmodels:\n  - name: {model}\n    columns:\n      - name: event_id\n        data_tests: [unique]\n")
    };
    assert_eq!(
        run(
            &TrapTests,
            &[dedup, ("models/silver/_s.yml", &yml("payments_deduped"))]
        ),
        one
    );
    // the same test on a model off the payments lineage guards nothing
    assert_eq!(
        run(
            &TrapTests,
            &[
                dedup,
                unrelated,
                ("models/silver/_s.yml", &yml("orders_clean"))
            ]
        ),
        Outcome::Fail
    );
    // a dbt unit test on the dedup model
    let unit = "version: 2\nunit_tests:\n  - name: keeps_one_row_per_event\n    model: payments_deduped\n    given:\n      - input: source('marketplace', 'payments')\n        rows:\n          - {event_id: 1, received_at: 1}\n          - {event_id: 1, received_at: 2}\n    expect:\n      rows:\n        - {event_id: 1}\n";
    assert_eq!(
        run(&TrapTests, &[dedup, ("models/silver/_u.yml", unit)]),
        one
    );
    // ... but not one on a model that does not exist
    let orphan_unit = unit.replace("model: payments_deduped", "model: payments_gone");
    assert_eq!(
        run(&TrapTests, &[dedup, ("models/silver/_u.yml", &orphan_unit)]),
        Outcome::Fail
    );
    // a custom generic test defined in tests/generic, named for what it checks
    let generic = (
        "tests/generic/unique_event.sql",
        "{% test unique_event(model, column_name) %}\nselect {{ column_name }} from {{ model }} group by 1 having count(*) > 1\n{% endtest %}\n",
    );
    let custom = "version: 2\nmodels:\n  - name: payments_deduped\n    columns:\n      - name: event_id\n        data_tests: [unique_event]\n";
    assert_eq!(
        run(
            &TrapTests,
            &[dedup, generic, ("models/silver/_s.yml", custom)]
        ),
        one
    );
    // the generic test's definition is not a singular test of its own
    let (_dir, f) = facts(&[dedup, generic]);
    let p = f.dbt.main_project().unwrap();
    assert!(p.singular_tests.is_empty());
    assert!(p.generic_tests.contains(&"unique_event".to_string()));
}

#[test]
fn latest_state_patterns_and_fanned_out_review_joins() {
    let src = "{{ source('marketplace', 'event_log') }}";
    for good in [
        format!("select * from {src} qualify row_number() over (partition by entity_id order by sequence_number desc) = 1"),
        format!("select * from (select *, max(sequence_number) over (partition by entity_type, entity_id) as latest from {src}) e where sequence_number = latest"),
        format!("select entity_id, arg_max(payload, sequence_number) as payload from {src} group by entity_id"),
        format!("select e.* from {src} e join (select entity_id, max(sequence_number) as s from {src} group by entity_id) m on m.entity_id = e.entity_id and m.s = e.sequence_number"),
    ] {
        assert_eq!(
            run(&EventLogOrder, &[("models/intermediate/int_state.sql", &good)]),
            Outcome::Pass,
            "{good}"
        );
    }
    let wrong = format!("select * from (select *, max(recorded_at) over (partition by entity_id) as latest from {src}) e where recorded_at = latest");
    assert_eq!(
        run(
            &EventLogOrder,
            &[("models/intermediate/int_state.sql", &wrong)]
        ),
        Outcome::Fail
    );

    let reviews = (
        "models/staging/stg_reviews.sql",
        "select review_id, order_id, product_id from {{ source('marketplace', 'reviews') }}\n",
    );
    let items = (
        "models/staging/stg_order_items.sql",
        "select order_id, product_id from {{ source('marketplace', 'order_items') }}\n",
    );
    // joined on order_id only: each review fans out over the order's items,
    // and the product comparison in the CASE does not undo it
    let fan_out = ("models/marts/fct_reviews.sql", "select r.review_id, case when i.product_id = r.product_id then true else false end as is_verified_purchase from {{ ref('stg_reviews') }} r left join {{ ref('stg_order_items') }} i on i.order_id = r.order_id\n");
    assert_eq!(
        run(&OrphanReviews, &[reviews, items, fan_out]),
        Outcome::Fail
    );
    let exists = ("models/marts/fct_reviews.sql", "select r.review_id, exists (select 1 from {{ ref('stg_order_items') }} i where i.order_id = r.order_id and i.product_id = r.product_id) as is_verified_purchase from {{ ref('stg_reviews') }} r\n");
    assert_eq!(
        run(&OrphanReviews, &[reviews, items, exists]),
        Outcome::Pass
    );
}

#[test]
fn table_functions_and_cte_names_are_not_hard_coded_relations() {
    for sql in [
        "select d::date as day from generate_series(date '2026-01-01', date '2026-12-31', interval 1 day) as t(d)",
        "select range as n from range(10)",
        "select u.x from unnest([1, 2]) as u(x)",
        "with a as (with b as (select order_id from {{ ref('stg_orders') }}) select * from b) select order_id from a",
        "with __dbt__cte__int_x as (select order_id from {{ ref('stg_orders') }}) select order_id from __dbt__cte__int_x",
    ] {
        assert_eq!(
            run(&NoHardcodedRelations, &[("models/marts/fct_orders.sql", sql)]),
            Outcome::Pass,
            "{sql}"
        );
    }
    assert_eq!(
        run(
            &NoHardcodedRelations,
            &[(
                "models/marts/fct_orders.sql",
                "with b as (select 1 as x) select x from b join raw.orders o on true"
            )]
        ),
        Outcome::Fail
    );
}
