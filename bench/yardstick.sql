-- The benchmark flow (issue 6) written by hand as one tuned DuckDB statement: the decisions to
-- deliver (treatment customers only), equal row for row to the compiled flow's kaireon_decisions
-- (customer_id, offer_id, channel, rank, score). bench/yardstick.py replaces {customers},
-- {offers}, {interactions} (Parquet paths) and {as_of} (UTC timestamp text).
--
-- What makes it fast, and why it is still the same flow:
-- * customer-level rules first (lapse window, purchases, revenue, holdout bucket, quiet hours in
--   the customer's zone, 24-hour cooldown, monthly cap reached): no offer is looked at for a
--   customer they drop; the quiet-hours test runs once per distinct time zone;
-- * offers are joined on category = primary_category (an equi-join, never customers x offers),
--   each offer on its own channel, with the channel's consent;
-- * history: only impressions since min(1st of the month, as_of - 7 days) matter to the caps, the
--   cooldown needs only the last 24 hours; one pass aggregates them per customer and offer;
-- * one window: with one channel per offer the per-offer weekly cap (1) has exactly one candidate
--   per customer and offer, so only "already shown this week" blocks; the monthly cap's
--   remaining contacts (3 - used) and topN 3 are the same ordering, so the decisions are the
--   first least(3, 3 - used) candidates by score desc, priority desc, offer id, channel.
with params as (
  select timestamp '{as_of}' as as_of
),
open_zones as (  -- quiet hours 08-21, local time of as_of
  select tz
  from (select distinct timezone as tz from read_parquet('{customers}')) z, params p
  where hour((p.as_of at time zone 'UTC') at time zone z.tz) >= 8
    and hour((p.as_of at time zone 'UTC') at time zone z.tz) < 21
),
hist as (  -- impressions that can count: this calendar month, the last 7 days, the last 24 hours
  select h.customer_id, h.offer_id,
         count(*) filter (where h.occurred_at >= date_trunc('month', p.as_of)) as month_n,
         count(*) filter (where h.occurred_at > p.as_of - interval 7 day) as week_n,
         max(h.occurred_at) as last_at
  from read_parquet('{interactions}') h, params p
  where h.outcome = 'impression' and h.occurred_at <= p.as_of
    and h.occurred_at >= least(date_trunc('month', p.as_of), p.as_of - interval 7 day)
  group by all
),
per_customer as (
  select customer_id, sum(month_n) as month_n, max(last_at) as last_at from hist group by all
),
cust as (
  select c.customer_id, c.primary_category, c.lifetime_purchases, c.consent_email, c.consent_sms,
         3 - coalesce(pc.month_n, 0) as month_left
  from read_parquet('{customers}') c
  join open_zones z on z.tz = c.timezone
  cross join params p
  left join per_customer pc on pc.customer_id = c.customer_id
  where c.days_since_last_purchase >= 90 and c.days_since_last_purchase <= 365
    and c.lifetime_purchases >= 3 and c.lifetime_revenue >= 50
    and (('0x' || substring(md5('winback:' || c.customer_id), 1, 8))::bigint) % 10000 >= 1500
    and coalesce(pc.month_n, 0) < 3
    and not coalesce(pc.last_at > p.as_of - interval 24 hour, false)
),
cand as (
  select c.customer_id, o.offer_id, o.channel, o.priority, c.month_left,
         0.4 * o.propensity_base * (1 + least(c.lifetime_purchases::double, 10) / 100)
           + 0.3 * o.business_value / 100 + 0.1 * o.priority / 100 + 0.6 * o.uplift as score
  from cust c
  join read_parquet('{offers}') o on o.category = c.primary_category
  left join hist h on h.customer_id = c.customer_id and h.offer_id = o.offer_id
  where (o.channel = 'push'
         or (o.channel = 'email' and coalesce(c.consent_email, false))
         or (o.channel = 'sms' and coalesce(c.consent_sms, false)))
    and coalesce(h.week_n, 0) < 1
)
select customer_id, offer_id, channel, rank, score
from (
  select *, row_number() over (partition by customer_id
                               order by score desc, priority desc, offer_id, channel) as rank
  from cand
)
where rank <= least(3, month_left)
