//! The clean model of the marketplace: every entity with its full history up to
//! the second sync. Snapshots are views of this model at a sync instant; traps are
//! overlays recorded beside the clean values, so truth never reads dirty data.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::rates::{rate_hundredths, Currency};
use super::time::{ymd, DAY, HOUR, MINUTE};

/// First sync (snapshot S1).
pub(crate) fn sync1() -> i64 {
    ymd(2026, 7, 1)
}
/// Second sync (snapshot S2), one week later.
pub(crate) fn sync2() -> i64 {
    ymd(2026, 7, 8)
}
fn window_start() -> i64 {
    ymd(2026, 1, 1)
}

/// SPEC section 2 ranges.
pub(crate) const T1_RANGE: (f64, f64) = (0.03, 0.06);
pub(crate) const T2_RANGE: (f64, f64) = (0.02, 0.04);
pub(crate) const T4_RANGE: (f64, f64) = (0.04, 0.07);
pub(crate) const T5_RANGE: (f64, f64) = (0.06, 0.10);
pub(crate) const T7_RANGE: (f64, f64) = (0.05, 0.10);
pub(crate) const T8_RANGE: (f64, f64) = (0.01, 0.03);

fn stream(seed: u64, n: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(n);
    r
}

/// Uniform draw inside a range shrunk by a margin on both sides, so that the
/// rate still lies inside the SPEC range after rounding to whole rows and after
/// the second snapshot changes the denominator a little.
fn draw_rate(rng: &mut ChaCha8Rng, range: (f64, f64)) -> f64 {
    let width = range.1 - range.0;
    let lo = range.0 + width * 0.2;
    let hi = range.1 - width * 0.2;
    rng.random_range(lo..hi)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserKind {
    Buyer,
    Seller,
    Both,
}

impl UserKind {
    pub(crate) fn code(self) -> &'static str {
        match self {
            UserKind::Buyer => "buyer",
            UserKind::Seller => "seller",
            UserKind::Both => "both",
        }
    }
    pub(crate) fn buys(self) -> bool {
        matches!(self, UserKind::Buyer | UserKind::Both)
    }
    pub(crate) fn sells(self) -> bool {
        matches!(self, UserKind::Seller | UserKind::Both)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: i64,
    pub email: String,
    pub full_name: String,
    pub kind: UserKind,
    pub country: Option<&'static str>,
    pub created_at: i64,
    /// Profile edits (sorted); each moves `updated_at`.
    pub updates: Vec<i64>,
    pub deleted_at: Option<i64>,
}

impl User {
    pub(crate) fn visible(&self, at: i64) -> bool {
        self.created_at <= at
    }
    pub(crate) fn deleted_at(&self, at: i64) -> Option<i64> {
        self.deleted_at.filter(|d| *d <= at)
    }
    pub(crate) fn updated_at(&self, at: i64) -> i64 {
        let mut u = self.created_at;
        for t in &self.updates {
            if *t <= at {
                u = u.max(*t);
            }
        }
        if let Some(d) = self.deleted_at(at) {
            u = u.max(d);
        }
        u
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Category {
    pub id: i64,
    pub name: String,
    pub parent: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ProductVersion {
    pub at: i64,
    pub price_cents: i64,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Product {
    pub id: i64,
    pub seller_id: i64,
    pub category_id: i64,
    pub title: String,
    pub currency: Currency,
    pub created_at: i64,
    /// versions[0] is the insert; sorted by time.
    pub versions: Vec<ProductVersion>,
    /// T2 overlay: clock skew added to the landed `updated_at`.
    pub skew: Option<i64>,
}

impl Product {
    pub(crate) fn version_at(&self, at: i64) -> ProductVersion {
        let mut v = self.versions[0];
        for x in &self.versions {
            if x.at <= at {
                v = *x;
            }
        }
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Status {
    Pending,
    Confirmed,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
}

impl Status {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Confirmed => "confirmed",
            Status::Shipped => "shipped",
            Status::Delivered => "delivered",
            Status::Cancelled => "cancelled",
            Status::Refunded => "refunded",
        }
    }
    pub(crate) fn is_gmv(self) -> bool {
        matches!(
            self,
            Status::Confirmed | Status::Shipped | Status::Delivered
        )
    }
    pub(crate) const ALL: [Status; 6] = [
        Status::Pending,
        Status::Confirmed,
        Status::Shipped,
        Status::Delivered,
        Status::Cancelled,
        Status::Refunded,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Card,
    Paypal,
    BankTransfer,
}

impl Method {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Method::Card => "card",
            Method::Paypal => "paypal",
            Method::BankTransfer => "bank_transfer",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub id: i64,
    pub buyer_id: i64,
    pub currency: Currency,
    pub created_at: i64,
    /// True confirmation instant (UTC).
    pub confirmed_at: Option<i64>,
    /// (instant, status) with the first entry (created_at, Pending).
    pub transitions: Vec<(i64, Status)>,
    pub total_cents: i64,
    /// Range into `World::items`.
    pub items: std::ops::Range<usize>,
}

impl Order {
    pub(crate) fn visible(&self, at: i64) -> bool {
        self.created_at <= at
    }
    pub(crate) fn status_at(&self, at: i64) -> (Status, i64) {
        let mut s = self.transitions[0];
        for t in &self.transitions {
            if t.0 <= at {
                s = *t;
            }
        }
        (s.1, s.0)
    }
    pub(crate) fn confirmed_at(&self, at: i64) -> Option<i64> {
        self.confirmed_at.filter(|c| *c <= at)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub id: i64,
    pub order_id: i64,
    pub product_id: i64,
    pub quantity: i64,
    /// In the order's currency.
    pub unit_price_cents: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Authorized,
    Captured,
    Refunded,
    Failed,
}

impl EventType {
    pub(crate) fn code(self) -> &'static str {
        match self {
            EventType::Authorized => "authorized",
            EventType::Captured => "captured",
            EventType::Refunded => "refunded",
            EventType::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PayEvent {
    pub event_id: String,
    pub order_id: i64,
    pub etype: EventType,
    pub amount_cents: i64,
    pub currency: Currency,
    pub method: Method,
    pub event_at: i64,
    /// deliveries[0] is the clean delivery; further entries are T1 re-deliveries.
    pub deliveries: Vec<i64>,
}

impl PayEvent {
    pub(crate) fn visible(&self, at: i64) -> bool {
        self.deliveries[0] <= at
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Review {
    pub id: i64,
    pub product_id: i64,
    pub order_id: Option<i64>,
    /// T8 overlay: the order id the source holds instead of the true one.
    pub orphan_order_id: Option<i64>,
    pub reviewer_id: i64,
    pub rating: i64,
    pub body: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct TierRow {
    pub seller_id: i64,
    pub tier: &'static str,
    pub valid_from: i64,
    pub valid_to: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Entity {
    Order,
    Product,
    User,
}

impl Entity {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Entity::Order => "order",
            Entity::Product => "product",
            Entity::User => "user",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct LogRow {
    pub log_id: i64,
    pub entity: Entity,
    pub entity_id: i64,
    pub operation: &'static str,
    pub payload: String,
    pub seq: i64,
    pub occurred_at: i64,
    /// As landed (T7 overlay applied); visibility follows this instant.
    pub recorded_at: i64,
    pub out_of_order: bool,
}

/// The trap rates this seed chose (targets; measured rates are in truth.json).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrapPlan {
    pub t1: f64,
    pub t2: f64,
    pub t4: f64,
    pub t5: f64,
    pub t7: f64,
    pub t8: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct World {
    pub users: Vec<User>,
    pub categories: Vec<Category>,
    pub products: Vec<Product>,
    pub orders: Vec<Order>,
    pub items: Vec<Item>,
    pub payments: Vec<PayEvent>,
    pub reviews: Vec<Review>,
    pub tiers: Vec<TierRow>,
    pub log: Vec<LogRow>,
}

impl World {
    pub(crate) fn user(&self, id: i64) -> &User {
        &self.users[(id - 1) as usize]
    }
    pub(crate) fn product(&self, id: i64) -> &Product {
        &self.products[(id - 1) as usize]
    }
    pub(crate) fn order(&self, id: i64) -> &Order {
        &self.orders[(id - 1) as usize]
    }
}

const FIRST_NAMES: [&str; 24] = [
    "Alice", "Bruno", "Chloe", "Daniel", "Emma", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kira",
    "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera",
    "Will", "Yara",
];
const LAST_NAMES: [&str; 20] = [
    "Smith", "Muller", "Dubois", "Rossi", "Garcia", "Jansen", "Murphy", "Brown", "Keller",
    "Moreau", "Bianchi", "Lopez", "Visser", "Kelly", "Taylor", "Weber", "Laurent", "Conti",
    "Navarro", "Walsh",
];
const COUNTRIES: [(&str, u32); 10] = [
    ("US", 40),
    ("GB", 15),
    ("DE", 10),
    ("FR", 8),
    ("NL", 5),
    ("ES", 5),
    ("IT", 5),
    ("CA", 5),
    ("AU", 4),
    ("IE", 3),
];
const ADJECTIVES: [&str; 12] = [
    "Classic", "Compact", "Deluxe", "Eco", "Handmade", "Premium", "Vintage", "Smart", "Travel",
    "Pro", "Everyday", "Limited",
];
const REVIEW_BODIES: [&str; 8] = [
    "Exactly as described.",
    "Fast shipping, would buy again.",
    "Good value for the price.",
    "Quality could be better.",
    "Arrived late but works fine.",
    "Not what I expected, returning it.",
    "Great seller, \"five stars\", thanks!",
    "Works well, packaging was damaged; product fine.",
];
const TIERS: [&str; 4] = ["bronze", "silver", "gold", "platinum"];

fn currency_of_country(country: Option<&str>) -> Option<Currency> {
    match country {
        Some("GB") => Some(Currency::Gbp),
        Some("DE" | "FR" | "NL" | "ES" | "IT" | "IE") => Some(Currency::Eur),
        Some(_) => Some(Currency::Usd),
        None => None,
    }
}

fn weighted<'a, T>(rng: &mut ChaCha8Rng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|x| x.1).sum();
    let mut pick = rng.random_range(0..total);
    for (item, w) in items {
        if pick < *w {
            return item;
        }
        pick -= w;
    }
    &items[items.len() - 1].0
}

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u64 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda < 30.0 {
        let l = (-lambda).exp();
        let mut k = 0u64;
        let mut p = 1.0;
        loop {
            p *= rng.random::<f64>();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (lambda + lambda.sqrt() * z).round().max(0.0) as u64
}

fn between(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..hi)
    }
}

/// Picks exactly `round(rate × n)` members from the first population and tops up
/// from the second population so the rate over both together is `round(rate × n_all)`.
fn stratified_pick(
    rng: &mut ChaCha8Rng,
    rate: f64,
    first_pop: usize,
    mut first_candidates: Vec<usize>,
    all_pop: usize,
    mut second_candidates: Vec<usize>,
) -> Vec<usize> {
    let k1 = ((rate * first_pop as f64).round() as usize).min(first_candidates.len());
    first_candidates.shuffle(rng);
    first_candidates.truncate(k1);
    let k_all = (rate * all_pop as f64).round() as usize;
    let k2 = k_all.saturating_sub(k1).min(second_candidates.len());
    second_candidates.shuffle(rng);
    second_candidates.truncate(k2);
    first_candidates.extend(second_candidates);
    first_candidates.sort_unstable();
    first_candidates
}

/// A second-level category with its third-level children.
type Subtree = (&'static str, &'static [&'static str]);

fn build_categories() -> Vec<Category> {
    let tree: [(&str, &[Subtree]); 6] = [
        (
            "Electronics",
            &[
                ("Phones", &["Smartphones", "Phone Accessories"]),
                ("Computers", &["Laptops", "Components"]),
                ("Audio", &[]),
            ],
        ),
        (
            "Home & Garden",
            &[
                ("Kitchen", &["Cookware", "Small Appliances"]),
                ("Furniture", &[]),
                ("Garden Tools", &[]),
            ],
        ),
        (
            "Fashion",
            &[
                ("Women", &["Dresses", "Women's Shoes"]),
                ("Men", &["Shirts", "Men's Shoes"]),
                ("Bags", &[]),
            ],
        ),
        (
            "Sports & Outdoors",
            &[
                ("Cycling", &[]),
                ("Camping", &["Tents", "Backpacks"]),
                ("Fitness", &[]),
            ],
        ),
        (
            "Books & Media",
            &[
                ("Books", &["Fiction", "Non-fiction"]),
                ("Music", &[]),
                ("Films", &[]),
            ],
        ),
        ("Toys & Games", &[("Board Games", &[]), ("Puzzles", &[])]),
    ];
    let mut out = Vec::new();
    let mut next = 1i64;
    for (root, children) in tree {
        let root_id = next;
        next += 1;
        out.push(Category {
            id: root_id,
            name: root.to_string(),
            parent: None,
        });
        for (child, grand) in children {
            let child_id = next;
            next += 1;
            out.push(Category {
                id: child_id,
                name: (*child).to_string(),
                parent: Some(root_id),
            });
            for g in grand.iter() {
                out.push(Category {
                    id: next,
                    name: (*g).to_string(),
                    parent: Some(child_id),
                });
                next += 1;
            }
        }
    }
    out
}

pub(crate) fn build(seed: u64, scale: u32) -> World {
    let scale = scale.max(1) as usize;
    let s1 = sync1();
    let s2 = sync2();
    let w0 = window_start();

    let mut rng = stream(seed, 1);
    let plan = TrapPlan {
        t1: draw_rate(&mut rng, T1_RANGE),
        t2: draw_rate(&mut rng, T2_RANGE),
        t4: draw_rate(&mut rng, (T4_RANGE.0, T4_RANGE.1 - 0.008)),
        t5: draw_rate(&mut rng, T5_RANGE),
        t7: draw_rate(&mut rng, T7_RANGE),
        t8: draw_rate(&mut rng, T8_RANGE),
    };

    let categories = build_categories();
    let leaves: Vec<i64> = categories
        .iter()
        .filter(|c| c.parent.is_some() && !categories.iter().any(|x| x.parent == Some(c.id)))
        .map(|c| c.id)
        .collect();

    // ---- users
    let mut rng = stream(seed, 2);
    let n_users = 2_000 * scale;
    let mut users: Vec<User> = Vec::with_capacity(n_users);
    for _ in 0..n_users {
        let u: f64 = rng.random();
        let kind = if u < 0.07 {
            UserKind::Seller
        } else if u < 0.12 {
            UserKind::Both
        } else {
            UserKind::Buyer
        };
        let v: f64 = rng.random();
        let created_at = if v < 0.012 {
            between(&mut rng, s1, s2)
        } else if (kind.sells() && v < 0.80) || v < 0.50 {
            between(&mut rng, ymd(2025, 1, 1), w0)
        } else {
            between(&mut rng, w0, s1)
        };
        let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
        let country = Some(*weighted(&mut rng, &COUNTRIES));
        let n_updates = *weighted(&mut rng, &[(0usize, 50), (1, 35), (2, 15)]);
        let mut updates: Vec<i64> = (0..n_updates)
            .map(|_| between(&mut rng, created_at + HOUR, s2))
            .filter(|t| *t > created_at + HOUR && *t < s2)
            .collect();
        updates.sort_unstable();
        updates.dedup_by(|a, b| *a - *b < HOUR);
        users.push(User {
            id: 0,
            email: String::new(),
            full_name: format!("{first} {last}"),
            kind,
            country,
            created_at,
            updates,
            deleted_at: None,
        });
    }
    users.sort_by_key(|u| u.created_at);
    let domains = ["example.com", "example.org", "example.net"];
    for (i, u) in users.iter_mut().enumerate() {
        u.id = i as i64 + 1;
        let mut parts = u.full_name.split(' ');
        let first = parts.next().unwrap_or("user").to_lowercase();
        let last = parts.next().unwrap_or("x").to_lowercase();
        u.email = format!("{first}.{last}{}@{}", u.id, domains[u.id as usize % 3]);
    }
    // T5: unknown country, exact count per snapshot.
    let n1_users = users.iter().filter(|u| u.created_at <= s1).count();
    let null_ids = stratified_pick(
        &mut rng,
        plan.t5,
        n1_users,
        (0..n1_users).collect(),
        users.len(),
        (n1_users..users.len()).collect(),
    );
    for i in null_ids {
        users[i].country = None;
    }

    // ---- products
    let mut rng = stream(seed, 3);
    let sellers: Vec<i64> = users
        .iter()
        .filter(|u| u.kind.sells())
        .map(|u| u.id)
        .collect();
    // One seller in ten never lists anything: their GMV row is zero.
    let listing: Vec<i64> = sellers
        .iter()
        .copied()
        .filter(|_| rng.random::<f64>() >= 0.10)
        .collect();
    let n_products = 600 * scale;
    let mut products: Vec<Product> = Vec::with_capacity(n_products);
    for _ in 0..n_products {
        let skewed: f64 = rng.random::<f64>().powf(1.6);
        let seller_id = listing[((skewed * listing.len() as f64) as usize).min(listing.len() - 1)];
        let seller = &users[(seller_id - 1) as usize];
        let lo = (seller.created_at + HOUR).max(ymd(2025, 3, 1));
        let created_at = if rng.random::<f64>() < 0.012 && lo < s2 {
            between(&mut rng, lo.max(s1), s2)
        } else if lo < s1 {
            between(&mut rng, lo, s1)
        } else {
            between(&mut rng, lo, s2)
        };
        let currency = currency_of_country(seller.country).unwrap_or(Currency::Usd);
        let price_cents =
            ((rng.random_range(4.0f64.ln()..450.0f64.ln()).exp().round() as i64).max(1)) * 100 - 1;
        let category_id = leaves[rng.random_range(0..leaves.len())];
        let cat_name = &categories[(category_id - 1) as usize].name;
        let title = format!(
            "{} {}",
            ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
            cat_name
        );
        let mut versions = vec![ProductVersion {
            at: created_at,
            price_cents,
            active: true,
        }];
        let n_edits = *weighted(&mut rng, &[(0usize, 45), (1, 35), (2, 15), (3, 5)]);
        let mut edit_times: Vec<i64> = (0..n_edits)
            .map(|_| between(&mut rng, created_at + DAY, s2))
            .filter(|t| *t > created_at && *t < s2)
            .collect();
        // Some edits in the week between the syncs, with ordinary timestamps.
        if created_at < s1 && rng.random::<f64>() < 0.04 {
            edit_times.push(between(&mut rng, s1 + HOUR, s2 - HOUR));
        }
        edit_times.sort_unstable();
        edit_times.dedup_by(|a, b| *a - *b < HOUR);
        for at in edit_times {
            let prev = *versions.last().unwrap_or(&versions[0]);
            let r: f64 = rng.random();
            let next = if r < 0.75 || !prev.active && r < 0.95 {
                let pct = rng.random_range(-20i64..=25).clamp(-20, 25);
                let pct = if pct == 0 { 10 } else { pct };
                let p = (prev.price_cents * (100 + pct) / 100 / 100).max(1) * 100 - 1;
                ProductVersion {
                    at,
                    price_cents: p.max(99),
                    active: prev.active,
                }
            } else {
                ProductVersion {
                    at,
                    price_cents: prev.price_cents,
                    active: !prev.active,
                }
            };
            versions.push(next);
        }
        products.push(Product {
            id: 0,
            seller_id,
            category_id,
            title,
            currency,
            created_at,
            versions,
            skew: None,
        });
    }
    products.sort_by_key(|p| (p.created_at, p.seller_id));
    for (i, p) in products.iter_mut().enumerate() {
        p.id = i as i64 + 1;
    }
    // T2: clock skew on products whose landed row does not change in the week, so
    // the skewed value stays in the future in both snapshots.
    let n1_products = products.iter().filter(|p| p.created_at <= s1).count();
    let t2_candidates: Vec<usize> = products
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p.created_at <= s1
                && !p.versions.iter().any(|v| v.at > s1 && v.at <= s2)
                && p.version_at(s1).at >= s2 + DAY - 380 * DAY
        })
        .map(|(i, _)| i)
        .collect();
    let t2_ids = stratified_pick(
        &mut rng,
        plan.t2,
        n1_products,
        t2_candidates,
        n1_products,
        Vec::new(),
    );
    for i in t2_ids {
        let true_updated = products[i].version_at(s1).at;
        let needed = (s2 + DAY - true_updated).max(30 * DAY);
        products[i].skew = Some(between(&mut rng, needed, 400 * DAY));
    }

    // ---- orders
    let mut rng = stream(seed, 4);
    let buyers: Vec<usize> = users
        .iter()
        .enumerate()
        .filter(|(_, u)| u.kind.buys())
        .map(|(i, _)| i)
        .collect();
    let mut weights = Vec::with_capacity(buyers.len());
    let mut exposure = 0.0;
    for &b in &buyers {
        let start = (users[b].created_at + HOUR).max(w0);
        let span_days = ((s2 - start).max(0) as f64) / DAY as f64;
        let w = (-(rng.random_range(f64::EPSILON..1.0f64)).ln()).powf(1.3);
        exposure += w * span_days;
        weights.push((start, w, span_days));
    }
    let target = 5_000.0 * scale as f64 * ((s2 - w0) as f64 / (s1 - w0) as f64);
    let base = if exposure > 0.0 {
        target / exposure
    } else {
        0.0
    };
    let mut drafts: Vec<(i64, i64)> = Vec::new(); // (created_at, buyer_id)
    for (k, &b) in buyers.iter().enumerate() {
        let (start, w, span_days) = weights[k];
        let n = poisson(&mut rng, base * w * span_days);
        for _ in 0..n {
            drafts.push((between(&mut rng, start, s2), users[b].id));
        }
    }
    drafts.sort_unstable();

    let product_created: Vec<i64> = products.iter().map(|p| p.created_at).collect();
    let mut orders: Vec<Order> = Vec::with_capacity(drafts.len());
    let mut items: Vec<Item> = Vec::new();
    let mut payments: Vec<PayEvent> = Vec::new();
    let mut prng = stream(seed, 5);
    for (created_at, buyer_id) in drafts {
        // Dense ids in creation order; a draft without any listed product is dropped.
        let id = orders.len() as i64 + 1;
        let buyer = &users[(buyer_id - 1) as usize];
        let currency = match currency_of_country(buyer.country) {
            Some(c) if rng.random::<f64>() >= 0.10 => c,
            _ => *weighted(
                &mut rng,
                &[
                    (Currency::Usd, 70),
                    (Currency::Eur, 20),
                    (Currency::Gbp, 10),
                ],
            ),
        };
        let method = *weighted(
            &mut rng,
            &[
                (Method::Card, 70),
                (Method::Paypal, 20),
                (Method::BankTransfer, 10),
            ],
        );
        // Line items: active products listed before the order.
        let available = product_created.partition_point(|c| *c < created_at);
        let n_items = *weighted(&mut rng, &[(1usize, 50), (2, 30), (3, 15), (4, 5)]);
        let first_item = items.len();
        let mut chosen: Vec<i64> = Vec::new();
        let mut total = 0i64;
        for _ in 0..(n_items * 30) {
            if chosen.len() == n_items || available == 0 {
                break;
            }
            let p = &products[rng.random_range(0..available)];
            let v = p.version_at(created_at);
            if !v.active || chosen.contains(&p.id) {
                continue;
            }
            chosen.push(p.id);
            let quantity = *weighted(&mut rng, &[(1i64, 70), (2, 20), (3, 10)]);
            let rp = rate_hundredths(p.currency, created_at);
            let ro = rate_hundredths(currency, created_at);
            let unit = ((v.price_cents * rp + ro / 2) / ro).max(1);
            total += unit * quantity;
            items.push(Item {
                id: items.len() as i64 + 1,
                order_id: id,
                product_id: p.id,
                quantity,
                unit_price_cents: unit,
            });
        }
        if chosen.is_empty() {
            // No listed product yet: such an order cannot exist.
            continue;
        }
        let mut transitions = vec![(created_at, Status::Pending)];
        let mut confirmed_at = None;
        let mut events: Vec<(EventType, i64, i64)> = Vec::new(); // (type, at, amount)
        let path: f64 = rng.random();
        if rng.random::<f64>() < 0.05 {
            events.push((
                EventType::Failed,
                created_at + rng.random_range(2..60),
                total,
            ));
        }
        if path < 0.04 {
            // Abandoned: never confirmed, cancelled after a few days.
            let cancel = created_at + rng.random_range(DAY..6 * DAY);
            transitions.push((cancel, Status::Cancelled));
            let p: f64 = rng.random();
            if p < 0.5 {
                events.push((
                    EventType::Failed,
                    created_at + rng.random_range(60..3600),
                    total,
                ));
            } else if p < 0.75 {
                events.push((
                    EventType::Authorized,
                    created_at + rng.random_range(60..600),
                    total,
                ));
            }
        } else {
            let conf = created_at + rng.random_range(5 * MINUTE..=180 * MINUTE);
            confirmed_at = Some(conf);
            transitions.push((conf, Status::Confirmed));
            let auth_at = created_at + rng.random_range(61..=(conf - created_at).min(290));
            events.push((EventType::Authorized, auth_at, total));
            let capture_at = conf + rng.random_range(10..900);
            let cap: f64 = rng.random();
            if cap < 0.025 {
                // Capture never arrives: reconciliation must flag the order.
            } else if cap < 0.04 {
                let part = total * rng.random_range(50..95) / 100;
                events.push((EventType::Captured, capture_at, part.max(1)));
            } else if cap < 0.06 {
                let part = total * rng.random_range(20..80) / 100;
                events.push((EventType::Captured, capture_at, part));
                events.push((
                    EventType::Captured,
                    capture_at + rng.random_range(HOUR..DAY),
                    total - part,
                ));
            } else {
                events.push((EventType::Captured, capture_at, total));
            }
            let fate: f64 = rng.random();
            if fate < 0.025 {
                let cancel = conf + rng.random_range(2 * HOUR..2 * DAY);
                transitions.push((cancel, Status::Cancelled));
                events.push((
                    EventType::Refunded,
                    cancel + rng.random_range(60..3600),
                    total,
                ));
            } else {
                let shipped = conf + rng.random_range(DAY..4 * DAY);
                let delivered = shipped + rng.random_range(2 * DAY..8 * DAY);
                transitions.push((shipped, Status::Shipped));
                transitions.push((delivered, Status::Delivered));
                let after: f64 = rng.random();
                if after < 0.04 {
                    let refund = delivered + rng.random_range(3 * DAY..20 * DAY);
                    transitions.push((refund, Status::Refunded));
                    events.push((
                        EventType::Refunded,
                        refund + rng.random_range(60..3600),
                        total,
                    ));
                } else if after < 0.07 {
                    // Partial refund on a kept order: the sale stands, refunds are not netted.
                    let refund = delivered + rng.random_range(2 * DAY..15 * DAY);
                    let part = (total * rng.random_range(10..50) / 100).max(1);
                    events.push((EventType::Refunded, refund, part));
                }
            }
        }
        events.sort_by_key(|e| e.1);
        for (etype, at, amount) in events {
            let mut id_bytes = [0u8; 12];
            prng.fill(&mut id_bytes);
            payments.push(PayEvent {
                event_id: format!("evt_{}", hex::encode(id_bytes)),
                order_id: id,
                etype,
                amount_cents: amount,
                currency,
                method,
                event_at: at,
                deliveries: vec![at + prng.random_range(1..120)],
            });
        }
        let last = items.len();
        orders.push(Order {
            id,
            buyer_id,
            currency,
            created_at,
            confirmed_at,
            transitions,
            total_cents: total,
            items: first_item..last,
        });
    }
    // ---- T1: re-deliveries of payment events
    let mut rng = stream(seed, 6);
    apply_duplicates(&mut rng, &mut payments, plan.t1, s1, s2);

    // ---- T4: soft deletes, after the order history is known
    let mut rng = stream(seed, 7);
    let mut last_order: Vec<Option<i64>> = vec![None; users.len()];
    for o in &orders {
        let slot = &mut last_order[(o.buyer_id - 1) as usize];
        *slot = Some(slot.map_or(o.created_at, |x: i64| x.max(o.created_at)));
    }
    let s1_candidates: Vec<usize> = (0..users.len())
        .filter(|&i| {
            users[i].created_at < s1 - 3 * DAY && last_order[i].is_none_or(|t| t < s1 - 2 * DAY)
        })
        .collect();
    let deleted_s1 = stratified_pick(&mut rng, plan.t4, n1_users, s1_candidates, 0, Vec::new());
    for &i in &deleted_s1 {
        let from = last_order[i]
            .unwrap_or(users[i].created_at)
            .max(users[i].created_at)
            + DAY;
        users[i].deleted_at = Some(between(&mut rng, from, s1 - HOUR));
    }
    let mut s2_candidates: Vec<usize> = (0..users.len())
        .filter(|&i| {
            users[i].created_at < s1
                && users[i].deleted_at.is_none()
                && last_order[i].is_none_or(|t| t < s1 - HOUR)
        })
        .collect();
    s2_candidates.shuffle(&mut rng);
    s2_candidates.truncate(((n1_users as f64 * 0.004).round() as usize).max(2));
    for &i in &s2_candidates {
        users[i].deleted_at = Some(between(&mut rng, s1 + HOUR, s2 - HOUR));
    }
    for u in &mut users {
        if let Some(d) = u.deleted_at {
            u.updates.retain(|t| *t < d - HOUR);
        }
    }

    // ---- reviews
    let mut rng = stream(seed, 8);
    let mut drafts: Vec<Review> = Vec::new();
    for o in &orders {
        let Some(delivered) = o
            .transitions
            .iter()
            .find(|t| t.1 == Status::Delivered)
            .map(|t| t.0)
        else {
            continue;
        };
        let buyer = &users[(o.buyer_id - 1) as usize];
        for it in &items[o.items.clone()] {
            if rng.random::<f64>() >= 0.22 {
                continue;
            }
            let at = delivered + rng.random_range(DAY..20 * DAY);
            if at >= s2 || buyer.deleted_at.is_some_and(|d| d <= at) {
                continue;
            }
            drafts.push(review_draft(
                &mut rng,
                it.product_id,
                Some(o.id),
                buyer.id,
                at,
            ));
        }
    }
    let n_unverified = drafts.len() * 7 / 100;
    for _ in 0..n_unverified {
        let p = &products[rng.random_range(0..products.len())];
        let u = &users[rng.random_range(0..users.len())];
        let lo = p.created_at.max(u.created_at) + HOUR;
        let at = between(&mut rng, lo, s2);
        if at >= s2 || u.deleted_at.is_some_and(|d| d <= at) {
            continue;
        }
        drafts.push(review_draft(&mut rng, p.id, None, u.id, at));
    }
    drafts.sort_by_key(|r| (r.created_at, r.product_id, r.reviewer_id));
    for (i, r) in drafts.iter_mut().enumerate() {
        r.id = i as i64 + 1;
    }
    let mut reviews = drafts;
    // T8: orphans point to an order that does not exist or lacks the product.
    let n1_reviews = reviews.iter().filter(|r| r.created_at <= s1).count();
    let orphan_idx = stratified_pick(
        &mut rng,
        plan.t8,
        n1_reviews,
        (0..n1_reviews).collect(),
        reviews.len(),
        (n1_reviews..reviews.len()).collect(),
    );
    let max_order = orders.len() as i64;
    for i in orphan_idx {
        let r = &reviews[i];
        let mut target = None;
        if rng.random::<f64>() < 0.5 {
            let older = orders.partition_point(|o| o.created_at < r.created_at);
            for _ in 0..50 {
                if older == 0 {
                    break;
                }
                let o = &orders[rng.random_range(0..older)];
                if !items[o.items.clone()]
                    .iter()
                    .any(|it| it.product_id == r.product_id)
                {
                    target = Some(o.id);
                    break;
                }
            }
        }
        let target = target.unwrap_or(max_order + rng.random_range(10_000..100_000));
        reviews[i].orphan_order_id = Some(target);
    }

    // ---- seller tier history (SCD2)
    let mut rng = stream(seed, 9);
    let mut tiers = Vec::new();
    for u in users.iter().filter(|u| u.kind.sells()) {
        let mut level = 0usize;
        let mut from = u.created_at;
        loop {
            let gap = (-(rng.random_range(f64::EPSILON..1.0f64)).ln() * 80.0 * DAY as f64) as i64;
            let next = from + gap.max(DAY);
            let done = next >= s2;
            tiers.push(TierRow {
                seller_id: u.id,
                tier: TIERS[level],
                valid_from: from,
                valid_to: if done { None } else { Some(next) },
            });
            if done {
                break;
            }
            level = if level == 0 || (level < 3 && rng.random::<f64>() < 0.6) {
                level + 1
            } else {
                level - 1
            };
            from = next;
        }
    }

    let mut world = World {
        users,
        categories,
        products,
        orders,
        items,
        payments,
        reviews,
        tiers,
        log: Vec::new(),
    };
    let mut rng = stream(seed, 10);
    world.log = build_log(&mut rng, &world, plan.t7, s1, s2);
    world
}

fn review_draft(
    rng: &mut ChaCha8Rng,
    product_id: i64,
    order_id: Option<i64>,
    reviewer_id: i64,
    at: i64,
) -> Review {
    let rating = *weighted(rng, &[(5i64, 45), (4, 30), (3, 12), (2, 6), (1, 7)]);
    let body = if rng.random::<f64>() < 0.7 {
        Some(REVIEW_BODIES[rng.random_range(0..REVIEW_BODIES.len())].to_string())
    } else {
        None
    };
    Review {
        id: 0,
        product_id,
        order_id,
        orphan_order_id: None,
        reviewer_id,
        rating,
        body,
        created_at: at,
    }
}

/// T1. Events land once normally; a seed-chosen share is delivered again (two or
/// three times in all). Some re-deliveries of events first seen before the first
/// sync only arrive during the following week, as a replaying webhook would.
fn apply_duplicates(rng: &mut ChaCha8Rng, payments: &mut [PayEvent], rate: f64, s1: i64, s2: i64) {
    let first: Vec<usize> = (0..payments.len())
        .filter(|&i| payments[i].deliveries[0] <= s1 - DAY)
        .collect();
    let n1 = payments.iter().filter(|p| p.deliveries[0] <= s1).count();
    let n2 = payments.iter().filter(|p| p.deliveries[0] <= s2).count();
    let mut first_shuffled = first.clone();
    first_shuffled.shuffle(rng);
    let k1 = ((rate * n1 as f64).round() as usize).min(first_shuffled.len());
    let (dup_s1, rest) = first_shuffled.split_at(k1);
    for &i in dup_s1 {
        let base = payments[i].deliveries[0];
        let copies = if rng.random::<f64>() < 0.8 { 1 } else { 2 };
        for _ in 0..copies {
            let last = *payments[i].deliveries.last().unwrap_or(&base);
            let at = (last + rng.random_range(MINUTE..6 * HOUR)).min(s1 - 1);
            payments[i].deliveries.push(at.max(last + 1));
        }
    }
    let k2 = ((rate * n2 as f64).round() as usize).saturating_sub(k1);
    // A third of the extra duplicates in S2 are old events replayed in the week.
    let replay_old = (k2 / 3).min(rest.len());
    for &i in &rest[..replay_old] {
        payments[i]
            .deliveries
            .push(between(rng, s1 + MINUTE, s2 - MINUTE));
    }
    // Some S1 duplicates get one more copy in the week (rate unchanged).
    for &i in dup_s1
        .iter()
        .filter(|&&i| payments[i].deliveries.len() == 2)
        .take(k1 / 10)
        .collect::<Vec<_>>()
    {
        payments[i]
            .deliveries
            .push(between(rng, s1 + MINUTE, s2 - MINUTE));
    }
    let mut week: Vec<usize> = (0..payments.len())
        .filter(|&i| payments[i].deliveries[0] > s1 && payments[i].deliveries[0] <= s2 - HOUR)
        .collect();
    week.shuffle(rng);
    week.truncate(k2 - replay_old);
    for &i in &week {
        let base = payments[i].deliveries[0];
        let at = (base + rng.random_range(MINUTE..HOUR)).min(s2 - 1);
        payments[i].deliveries.push(at);
    }
}

fn build_log(rng: &mut ChaCha8Rng, w: &World, rate: f64, s1: i64, s2: i64) -> Vec<LogRow> {
    use serde_json::json;
    let mut rows: Vec<LogRow> = Vec::new();
    let mut push =
        |entity: Entity, id: i64, changes: Vec<(i64, &'static str, serde_json::Value)>| {
            for (k, (at, op, payload)) in changes.into_iter().enumerate() {
                if at >= s2 {
                    break;
                }
                rows.push(LogRow {
                    log_id: 0,
                    entity,
                    entity_id: id,
                    operation: op,
                    payload: payload.to_string(),
                    seq: k as i64 + 1,
                    occurred_at: at,
                    recorded_at: 0,
                    out_of_order: false,
                });
            }
        };
    for u in &w.users {
        let mut ch = vec![(
            u.created_at,
            "insert",
            json!({"user_id": u.id, "email": u.email, "user_type": u.kind.code(),
                   "country_code": u.country}),
        )];
        for t in &u.updates {
            ch.push((
                *t,
                "update",
                json!({"user_id": u.id, "updated_at": super::time::fmt_utc(*t)}),
            ));
        }
        if let Some(d) = u.deleted_at {
            ch.push((
                d,
                "delete",
                json!({"user_id": u.id, "deleted_at": super::time::fmt_utc(d)}),
            ));
        }
        push(Entity::User, u.id, ch);
    }
    for p in &w.products {
        let mut ch = Vec::new();
        for (k, v) in p.versions.iter().enumerate() {
            let price = super::rates::fmt_cents(v.price_cents);
            let payload = if k == 0 {
                json!({"product_id": p.id, "seller_id": p.seller_id, "price": price,
                       "currency": p.currency.code(), "is_active": v.active})
            } else {
                json!({"product_id": p.id, "price": price, "is_active": v.active})
            };
            ch.push((v.at, if k == 0 { "insert" } else { "update" }, payload));
        }
        push(Entity::Product, p.id, ch);
    }
    for o in &w.orders {
        let mut ch = Vec::new();
        for (k, (at, s)) in o.transitions.iter().enumerate() {
            let payload = if k == 0 {
                json!({"order_id": o.id, "buyer_id": o.buyer_id, "status": s.code(),
                       "currency": o.currency.code(),
                       "order_total": super::rates::fmt_cents(o.total_cents)})
            } else {
                json!({"order_id": o.id, "status": s.code()})
            };
            ch.push((*at, if k == 0 { "insert" } else { "update" }, payload));
        }
        push(Entity::Order, o.id, ch);
    }
    for r in &mut rows {
        r.recorded_at = r.occurred_at + rng.random_range(1..20);
    }
    rows.retain(|r| r.recorded_at <= s2);
    // rows are grouped by entity in sequence order, so neighbours are (k, k+1).
    let n1 = rows.iter().filter(|r| r.recorded_at <= s1).count();
    let n2 = rows.len();
    let mut cand1 = Vec::new();
    let mut cand2 = Vec::new();
    for i in 0..rows.len().saturating_sub(1) {
        let (a, b) = (&rows[i], &rows[i + 1]);
        if a.entity != b.entity || a.entity_id != b.entity_id {
            continue;
        }
        if b.recorded_at + 30 <= s1 {
            cand1.push(i);
        } else if a.recorded_at > s1 && b.recorded_at + 30 <= s2 {
            cand2.push(i);
        }
    }
    let pairs1 = (rate * n1 as f64 / 2.0).round() as usize;
    let pairs2 = ((rate * n2 as f64 / 2.0).round() as usize).saturating_sub(pairs1);
    let mut used = vec![false; rows.len()];
    for (mut cand, want) in [(cand1, pairs1), (cand2, pairs2)] {
        cand.shuffle(rng);
        let mut done = 0;
        for i in cand {
            if done == want {
                break;
            }
            if used[i] || used[i + 1] {
                continue;
            }
            let d = rng.random_range(1..=30);
            let moved = rows[i + 1].recorded_at + d;
            let next_same = i + 2 < rows.len()
                && rows[i + 2].entity == rows[i].entity
                && rows[i + 2].entity_id == rows[i].entity_id;
            if next_same && moved >= rows[i + 2].recorded_at {
                continue;
            }
            rows[i].recorded_at = moved;
            rows[i].out_of_order = true;
            rows[i + 1].out_of_order = true;
            used[i] = true;
            used[i + 1] = true;
            done += 1;
        }
    }
    // log_id follows arrival, as an autoincrement on the log table would.
    rows.sort_by_key(|r| (r.recorded_at, r.entity, r.entity_id, r.seq));
    for (i, r) in rows.iter_mut().enumerate() {
        r.log_id = i as i64 + 1;
    }
    rows
}
