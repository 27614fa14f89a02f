-- Demo and test data for the master schema, generated inside the database with set-based SQL.
--
-- Run by db/local/seed.py, one step at a time (each step starts with a `-- step: name` line), with
-- client-side parameters: %(seed)s, %(tenants)s, %(events)s, %(days)s, %(anchor)s (a timestamptz,
-- the end of the generated period, never in the future), and for the listener_events step the slice
-- to insert: %(lo)s, %(hi)s, %(stride)s, %(sparse)s, %(guard)s (see db/local/seed.py). Because of those
-- parameters a literal percent sign must be written twice.
--
-- Deterministic: no random(); every "random" choice is hashint8extended(row number, seed + salt),
-- every id is md5(seed:kind:number)::uuid. The same parameters give the same rows, and re-running
-- inserts nothing new (ON CONFLICT DO NOTHING on deterministic keys; the event tables are skipped
-- when the seed's first tenant already has events).
--
-- Invariants the data respects (GX checks them): an event's tenant and podcast are its episode's;
-- positions lie within the episode's duration; no listening before an episode's publication;
-- attribution events fall within their campaign's dates and point at that campaign's own links,
-- codes and placements; nothing lies after %(anchor)s.

-- step: helpers
CREATE OR REPLACE FUNCTION pg_temp.sf_r(i bigint, salt integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (hashint8extended(i, salt::bigint) & 2147483647)::double precision / 2147483648.0 $$;

CREATE OR REPLACE FUNCTION pg_temp.sf_id(seed integer, kind text, i bigint) RETURNS uuid
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT md5(seed::text || ':' || kind || ':' || i::text)::uuid $$;

-- step: plans
INSERT INTO public.plans (id, code, name, monthly_price_cents, max_podcasts, max_events_per_month)
VALUES (pg_temp.sf_id(0, 'plan', 1), 'starter', 'Starter', 0, 1, 100000),
       (pg_temp.sf_id(0, 'plan', 2), 'pro', 'Pro', 4900, 10, 10000000),
       (pg_temp.sf_id(0, 'plan', 3), 'network', 'Network', 49900, NULL, NULL)
ON CONFLICT (code) DO NOTHING;

-- step: tenants
INSERT INTO public.tenants (id, slug, name, status, plan_id, timezone, created_at)
SELECT pg_temp.sf_id(%(seed)s, 'tenant', t),
       format('demo-%%s-%%s', %(seed)s, t),
       (ARRAY['Northwind', 'Blue Harbor', 'Lumen', 'Quarry', 'Redwood', 'Signal', 'Tidewater',
              'Parallax'])[1 + mod(t - 1, 8)] || ' Audio ' || t,
       CASE WHEN mod(t, 10) = 0 THEN 'trial' ELSE 'active' END,
       (SELECT id FROM public.plans WHERE code = (ARRAY['starter', 'pro', 'network'])[1 + mod(t, 3)]),
       (ARRAY['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo'])[1 + mod(t, 4)],
       %(anchor)s::timestamptz - make_interval(days => 2 * %(days)s + 30)
FROM generate_series(1, %(tenants)s) AS t
ON CONFLICT DO NOTHING;

-- Every other tenant has the deals feature switched on.
-- step: tenant_settings
INSERT INTO public.tenant_settings (tenant_id, settings, features)
SELECT pg_temp.sf_id(%(seed)s, 'tenant', t),
       jsonb_build_object('currency', 'USD', 'week_starts_on', 'monday', 'retention_days', 400),
       jsonb_build_object('deals', mod(t, 2) = 1, 'api', true)
FROM generate_series(1, %(tenants)s) AS t
ON CONFLICT DO NOTHING;

-- step: tenant_quotas
INSERT INTO public.tenant_quotas (tenant_id, resource, quota_limit, used)
SELECT pg_temp.sf_id(%(seed)s, 'tenant', t), r.resource, r.quota_limit, r.used
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN (VALUES ('podcasts', 10, 3), ('episodes', 1000, 60), ('users', 25, 5),
                   ('listener_events_month', 50000000, 0)) AS r (resource, quota_limit, used)
ON CONFLICT DO NOTHING;

-- step: subscriptions
INSERT INTO public.subscriptions (id, tenant_id, plan_id, status, started_at)
SELECT pg_temp.sf_id(%(seed)s, 'subscription', t.t), tn.id, tn.plan_id, 'active', tn.created_at
FROM generate_series(1, %(tenants)s) AS t (t)
JOIN public.tenants tn ON tn.id = pg_temp.sf_id(%(seed)s, 'tenant', t.t)
ON CONFLICT DO NOTHING;

-- step: invoices
INSERT INTO public.invoices (id, tenant_id, subscription_id, number, period_start, period_end,
                             amount_cents, status, issued_at, paid_at)
SELECT pg_temp.sf_id(%(seed)s, 'invoice', t * 100 + m),
       pg_temp.sf_id(%(seed)s, 'tenant', t),
       pg_temp.sf_id(%(seed)s, 'subscription', t),
       format('INV-%%s-%%s-%%s', %(seed)s, t, m),
       (%(anchor)s::timestamptz - make_interval(months => m))::date,
       (%(anchor)s::timestamptz - make_interval(months => m - 1))::date - 1,
       p.monthly_price_cents,
       CASE WHEN m = 1 THEN 'open' ELSE 'paid' END,
       %(anchor)s::timestamptz - make_interval(months => m - 1),
       CASE WHEN m = 1 THEN NULL ELSE %(anchor)s::timestamptz - make_interval(months => m - 1, days => -3) END
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 3) AS m
JOIN public.tenants tn ON tn.id = pg_temp.sf_id(%(seed)s, 'tenant', t)
JOIN public.plans p ON p.id = tn.plan_id
ON CONFLICT DO NOTHING;

-- Five dashboard users per tenant; user u of tenant t is number t * 10 + u.
-- step: users
INSERT INTO public.users (id, tenant_id, email, display_name, role, status, last_login_at, created_at)
SELECT pg_temp.sf_id(%(seed)s, 'user', t * 10 + u),
       pg_temp.sf_id(%(seed)s, 'tenant', t),
       format('user%%s@tenant%%s-%%s.example.com', u, t, %(seed)s),
       (ARRAY['Ada', 'Grace', 'Linus', 'Barbara', 'Ken'])[u] || ' ' || t,
       (ARRAY['owner', 'admin', 'editor', 'viewer', 'viewer'])[u],
       'active',
       %(anchor)s::timestamptz - make_interval(hours => u * 7),
       %(anchor)s::timestamptz - make_interval(days => 2 * %(days)s + 20)
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 5) AS u
ON CONFLICT DO NOTHING;

-- step: user_email_preferences
INSERT INTO public.user_email_preferences (user_id, tenant_id, weekly_report, campaign_alerts, product_news)
SELECT pg_temp.sf_id(%(seed)s, 'user', t * 10 + u), pg_temp.sf_id(%(seed)s, 'tenant', t),
       u <> 5, u <= 2, u = 1
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 5) AS u
ON CONFLICT DO NOTHING;

-- step: user_metrics
INSERT INTO public.user_metrics (user_id, tenant_id, day, logins, dashboard_views, reports_exported, api_requests)
SELECT pg_temp.sf_id(%(seed)s, 'user', t * 10 + u), pg_temp.sf_id(%(seed)s, 'tenant', t),
       (%(anchor)s::timestamptz - make_interval(days => d))::date,
       floor(pg_temp.sf_r(t * 100000 + u * 1000 + d, %(seed)s + 11) * 3)::int,
       floor(pg_temp.sf_r(t * 100000 + u * 1000 + d, %(seed)s + 12) * 40)::int,
       floor(pg_temp.sf_r(t * 100000 + u * 1000 + d, %(seed)s + 13) * 2)::int,
       floor(pg_temp.sf_r(t * 100000 + u * 1000 + d, %(seed)s + 14) * 500)::int
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 5) AS u
CROSS JOIN generate_series(1, least(%(days)s, 60)) AS d
ON CONFLICT DO NOTHING;

-- step: api_keys
INSERT INTO public.api_keys (id, tenant_id, created_by, name, key_prefix, key_hash, scopes, created_at)
SELECT pg_temp.sf_id(%(seed)s, 'api_key', t * 10 + k), pg_temp.sf_id(%(seed)s, 'tenant', t),
       pg_temp.sf_id(%(seed)s, 'user', t * 10 + 1),
       (ARRAY['ingest', 'reporting'])[k],
       left(md5(format('key:%%s:%%s:%%s', %(seed)s, t, k)), 12),
       md5(format('secret:%%s:%%s:%%s', %(seed)s, t, k)),
       CASE k WHEN 1 THEN ARRAY['events:write'] ELSE ARRAY['read'] END,
       %(anchor)s::timestamptz - make_interval(days => 2 * %(days)s)
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 2) AS k
ON CONFLICT DO NOTHING;

-- Three podcasts per tenant (podcast p of tenant t is number t * 10 + p), twenty episodes each.
-- step: podcasts
INSERT INTO public.podcasts (id, tenant_id, title, slug, description, language, category, created_at)
SELECT pg_temp.sf_id(%(seed)s, 'podcast', t * 10 + p), pg_temp.sf_id(%(seed)s, 'tenant', t),
       (ARRAY['The Morning Signal', 'Deep Field Notes', 'Small Business Hour', 'Code and Coffee',
              'History Uncovered', 'The Running Life', 'Market Minutes', 'Kitchen Science'])
           [1 + mod(t * 3 + p, 8)] || ' ' || t,
       format('show-%%s-%%s', t, p),
       'A demo show generated by schemaflow seed-data.',
       (ARRAY['en', 'en', 'de', 'es'])[1 + mod(t + p, 4)],
       (ARRAY['news', 'science', 'business', 'technology', 'history', 'sports'])[1 + mod(t + p, 6)],
       %(anchor)s::timestamptz - make_interval(days => 2 * %(days)s + 10)
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 3) AS p
ON CONFLICT DO NOTHING;

-- Episodes come out every few days, the oldest well before the event window, the newest a day ago.
-- step: episodes
INSERT INTO public.episodes (id, tenant_id, podcast_id, title, season_number, episode_number,
                             duration_seconds, status, published_at, created_at)
SELECT pg_temp.sf_id(%(seed)s, 'episode', (t * 10 + p) * 100 + e),
       pg_temp.sf_id(%(seed)s, 'tenant', t),
       pg_temp.sf_id(%(seed)s, 'podcast', t * 10 + p),
       format('Episode %%s: %%s', e, (ARRAY['Beginnings', 'The long road', 'Interview special',
              'Listener questions', 'Behind the numbers', 'What we got wrong', 'Field report'])
              [1 + mod(e * 7 + p, 7)]),
       1 + (e - 1) / 10,
       e,
       600 + floor(pg_temp.sf_r((t * 10 + p) * 100 + e, %(seed)s + 21) * 4800)::int,
       'published',
       %(anchor)s::timestamptz - make_interval(days => 1)
           - (20 - e) * make_interval(secs => (2 * %(days)s + 5) * 86400.0 / 20),
       %(anchor)s::timestamptz - make_interval(days => 2 * %(days)s + 10)
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 3) AS p
CROSS JOIN generate_series(1, 20) AS e
ON CONFLICT DO NOTHING;

-- step: sponsors
INSERT INTO public.sponsors (id, tenant_id, name, website, industry, contact_email)
SELECT pg_temp.sf_id(%(seed)s, 'sponsor', t * 10 + s), pg_temp.sf_id(%(seed)s, 'tenant', t),
       (ARRAY['Acme Mattress', 'Brightside VPN', 'Cobalt Coffee', 'Driftwood Meals', 'Evergreen Bank'])[s],
       format('https://sponsor%%s.example.com', s),
       (ARRAY['retail', 'software', 'food', 'food', 'finance'])[s],
       format('ads@sponsor%%s.example.com', s)
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 5) AS s
ON CONFLICT DO NOTHING;

-- Eight campaigns per tenant spread over the window; the last one starts after the anchor
-- (scheduled), so there are future campaigns without attribution events, as in real life.
-- step: campaigns
INSERT INTO public.campaigns (id, tenant_id, sponsor_id, name, starts_on, ends_on, status, budget_cents, goal)
SELECT pg_temp.sf_id(%(seed)s, 'campaign', t * 10 + c),
       pg_temp.sf_id(%(seed)s, 'tenant', t),
       pg_temp.sf_id(%(seed)s, 'sponsor', t * 10 + 1 + mod(c, 5)),
       format('Campaign %%s-%%s', t, c),
       w.starts_on,
       w.starts_on + 6 + mod(c * 5, 21),
       CASE WHEN w.starts_on > %(anchor)s::timestamptz::date THEN 'scheduled'
            WHEN w.starts_on + 6 + mod(c * 5, 21) < %(anchor)s::timestamptz::date THEN 'completed'
            ELSE 'active' END,
       (50 + mod(c * 37, 200)) * 10000,
       (ARRAY['awareness', 'clicks', 'installs', 'signups', 'purchases'])[1 + mod(c, 5)]
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 8) AS c
CROSS JOIN LATERAL (
    SELECT CASE WHEN c = 8 THEN %(anchor)s::timestamptz::date + 7
                ELSE (%(anchor)s::timestamptz - make_interval(days => %(days)s))::date
                     + (c - 1) * greatest(%(days)s, 7) / 7 END AS starts_on
) AS w
ON CONFLICT DO NOTHING;

-- Each campaign runs in one ad slot of three episodes of one of its tenant's podcasts.
-- step: campaign_placements
INSERT INTO public.campaign_placements (id, tenant_id, campaign_id, episode_id, slot, offset_seconds, price_cents)
SELECT pg_temp.sf_id(%(seed)s, 'placement', (t * 10 + c) * 10 + k),
       pg_temp.sf_id(%(seed)s, 'tenant', t),
       pg_temp.sf_id(%(seed)s, 'campaign', t * 10 + c),
       pg_temp.sf_id(%(seed)s, 'episode', (t * 10 + 1 + mod(c, 3)) * 100 + 20 - mod(c + k * 3, 20)),
       (ARRAY['pre_roll', 'mid_roll', 'post_roll'])[k],
       CASE k WHEN 1 THEN 0 WHEN 2 THEN 300 ELSE 590 END,
       (ARRAY[2500, 6000, 1500])[k] * 100
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 8) AS c
CROSS JOIN generate_series(1, 3) AS k
ON CONFLICT DO NOTHING;

-- step: tracking_links
INSERT INTO public.tracking_links (id, tenant_id, campaign_id, episode_id, code, destination_url)
SELECT pg_temp.sf_id(%(seed)s, 'link', t * 10 + c),
       pg_temp.sf_id(%(seed)s, 'tenant', t),
       pg_temp.sf_id(%(seed)s, 'campaign', t * 10 + c),
       pg_temp.sf_id(%(seed)s, 'episode', (t * 10 + 1 + mod(c, 3)) * 100 + 20 - mod(c + 3, 20)),
       format('L%%s-%%s-%%s', %(seed)s, t, c),
       format('https://sponsor%%s.example.com/podcast?c=%%s', 1 + mod(c, 5), c)
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 8) AS c
ON CONFLICT DO NOTHING;

-- step: promo_codes
INSERT INTO public.promo_codes (id, tenant_id, campaign_id, code, discount_percent, max_redemptions, valid_until)
SELECT pg_temp.sf_id(%(seed)s, 'promo', t * 10 + c),
       pg_temp.sf_id(%(seed)s, 'tenant', t),
       cp.id,
       format('PODCAST%%sX%%s', t, c),
       10 + mod(c * 5, 30),
       1000,
       cp.ends_on + 30
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 8) AS c
JOIN public.campaigns cp ON cp.id = pg_temp.sf_id(%(seed)s, 'campaign', t * 10 + c)
ON CONFLICT DO NOTHING;

-- Deals only where the tenant has the feature (odd tenant numbers, see tenant_settings).
-- step: deals
INSERT INTO public.deals (id, tenant_id, sponsor_id, campaign_id, owner_user_id, title, stage, value_cents,
                          expected_close_on, closed_at)
SELECT pg_temp.sf_id(%(seed)s, 'deal', t * 10 + d),
       pg_temp.sf_id(%(seed)s, 'tenant', t),
       pg_temp.sf_id(%(seed)s, 'sponsor', t * 10 + 1 + mod(d, 5)),
       CASE WHEN d <= 3 THEN pg_temp.sf_id(%(seed)s, 'campaign', t * 10 + d) END,
       pg_temp.sf_id(%(seed)s, 'user', t * 10 + 2),
       format('Sponsorship package %%s', d),
       (ARRAY['won', 'won', 'won', 'negotiation', 'proposal', 'lead'])[d],
       (20 + d * 15) * 10000,
       (%(anchor)s::timestamptz + make_interval(days => d * 9))::date,
       CASE WHEN d <= 3 THEN %(anchor)s::timestamptz - make_interval(days => %(days)s + d) END
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 6) AS d
WHERE mod(t, 2) = 1
ON CONFLICT DO NOTHING;

-- step: partnerships
INSERT INTO public.partnerships (id, tenant_id, partner_name, kind, podcast_id, revenue_share_percent,
                                 starts_on, status)
SELECT pg_temp.sf_id(%(seed)s, 'partnership', t * 10 + k),
       pg_temp.sf_id(%(seed)s, 'tenant', t),
       (ARRAY['Lighthouse Network', 'Static Agency'])[k],
       (ARRAY['network', 'agency'])[k],
       pg_temp.sf_id(%(seed)s, 'podcast', t * 10 + k),
       (ARRAY[30.00, 15.00])[k],
       (%(anchor)s::timestamptz - make_interval(days => 2 * %(days)s))::date,
       'active'
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 2) AS k
ON CONFLICT DO NOTHING;

-- step: referrals
INSERT INTO public.referrals (id, tenant_id, referrer_user_id, referred_email, code, status, reward_cents,
                              created_at)
SELECT pg_temp.sf_id(%(seed)s, 'referral', t * 10 + k),
       pg_temp.sf_id(%(seed)s, 'tenant', t),
       pg_temp.sf_id(%(seed)s, 'user', t * 10 + 1),
       format('friend%%s@prospect%%s.example.org', k, t),
       format('REF-%%s-%%s-%%s', %(seed)s, t, k),
       (ARRAY['sent', 'signed_up', 'expired'])[k],
       CASE k WHEN 2 THEN 5000 ELSE 0 END,
       %(anchor)s::timestamptz - make_interval(days => k * 5)
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 3) AS k
ON CONFLICT DO NOTHING;

-- step: webhooks
INSERT INTO public.webhooks (id, tenant_id, url, events, secret_hash)
SELECT pg_temp.sf_id(%(seed)s, 'webhook', t),
       pg_temp.sf_id(%(seed)s, 'tenant', t),
       format('https://hooks.tenant%%s.example.com/podcast', t),
       ARRAY['campaign.completed', 'export.done'],
       md5(format('hook:%%s:%%s', %(seed)s, t))
FROM generate_series(1, %(tenants)s) AS t
ON CONFLICT DO NOTHING;

-- step: data_exports
INSERT INTO public.data_exports (id, tenant_id, requested_by, kind, range_start, range_end, status,
                                 created_at, finished_at)
SELECT pg_temp.sf_id(%(seed)s, 'export', t),
       pg_temp.sf_id(%(seed)s, 'tenant', t),
       pg_temp.sf_id(%(seed)s, 'user', t * 10 + 2),
       'listener_events',
       %(anchor)s::timestamptz - make_interval(days => 7),
       %(anchor)s::timestamptz,
       'done',
       %(anchor)s::timestamptz - make_interval(hours => 2),
       %(anchor)s::timestamptz - make_interval(hours => 1)
FROM generate_series(1, %(tenants)s) AS t
ON CONFLICT DO NOTHING;

-- Identity columns have no deterministic id to conflict on: these two are filled once per tenant.
-- step: audit_log
INSERT INTO public.audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, details, occurred_at)
SELECT pg_temp.sf_id(%(seed)s, 'tenant', t),
       pg_temp.sf_id(%(seed)s, 'user', t * 10 + 1 + mod(a, 2)),
       (ARRAY['campaign.create', 'campaign.update', 'episode.publish', 'user.invite'])[1 + mod(a, 4)],
       (ARRAY['campaign', 'campaign', 'episode', 'user'])[1 + mod(a, 4)],
       pg_temp.sf_id(%(seed)s, 'campaign', t * 10 + 1 + mod(a, 8)),
       jsonb_build_object('seed', %(seed)s, 'n', a),
       %(anchor)s::timestamptz - make_interval(hours => a * 11)
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 12) AS a
WHERE NOT EXISTS (SELECT 1 FROM public.audit_log l
                  WHERE l.tenant_id = pg_temp.sf_id(%(seed)s, 'tenant', t));

-- step: webhook_deliveries
INSERT INTO public.webhook_deliveries (tenant_id, webhook_id, event_type, payload, response_status, attempts,
                                       delivered_at, created_at)
SELECT pg_temp.sf_id(%(seed)s, 'tenant', t),
       pg_temp.sf_id(%(seed)s, 'webhook', t),
       'campaign.completed',
       jsonb_build_object('campaign', format('Campaign %%s-%%s', t, w)),
       CASE WHEN w = 4 THEN 503 ELSE 200 END,
       CASE WHEN w = 4 THEN 3 ELSE 1 END,
       CASE WHEN w = 4 THEN NULL ELSE %(anchor)s::timestamptz - make_interval(days => w) END,
       %(anchor)s::timestamptz - make_interval(days => w)
FROM generate_series(1, %(tenants)s) AS t
CROSS JOIN generate_series(1, 4) AS w
WHERE NOT EXISTS (SELECT 1 FROM public.webhook_deliveries d
                  WHERE d.tenant_id = pg_temp.sf_id(%(seed)s, 'tenant', t));

-- Listener events, generated in time order: event i of N happens at window start + (i + jitter) *
-- (window / N), so chunks fill one after another and every index grows at its right edge (random
-- times across the window made the load ~3x slower). Its episode is drawn among those already
-- published that day (sf_episodes is ordered by the moment each becomes listenable, so they form a
-- prefix), its position lies within the episode. Event ids are UUIDv7 (millisecond time prefix,
-- then the event number), as a modern ingest API would assign them; built from bytes, not strings.
-- step: listener_setup
DROP TABLE IF EXISTS pg_temp.sf_episodes;
CREATE TEMP TABLE sf_episodes ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY w.window_start, e.id) - 1 AS ord, e.id, e.tenant_id, e.podcast_id,
       e.duration_seconds, w.window_start
FROM public.episodes e
JOIN public.tenants tn ON tn.id = e.tenant_id
CROSS JOIN LATERAL (
    SELECT greatest(e.published_at, %(anchor)s::timestamptz - make_interval(days => %(days)s)) AS window_start
) AS w
WHERE tn.slug LIKE format('demo-%%s-%%%%', %(seed)s) AND e.published_at < %(anchor)s::timestamptz;
CREATE UNIQUE INDEX ON sf_episodes (ord);
ANALYZE sf_episodes;

DROP TABLE IF EXISTS pg_temp.sf_days;
CREATE TEMP TABLE sf_days ON COMMIT DROP AS
SELECT d.day, d.day_start,
       (SELECT count(*) FROM sf_episodes ep WHERE ep.window_start <= d.day_start) AS listenable
FROM (SELECT day, %(anchor)s::timestamptz - make_interval(days => %(days)s - day) AS day_start
      FROM generate_series(0, %(days)s - 1) AS day) AS d;
ANALYZE sf_days;

DROP TABLE IF EXISTS pg_temp.sf_window;
CREATE TEMP TABLE sf_window ON COMMIT DROP AS
SELECT 'epoch'::timestamptz AS start_ts,
       (extract(epoch FROM %(anchor)s::timestamptz - make_interval(days => %(days)s)) * 1000)::bigint AS start_ms,
       %(days)s * 86400000.0 / greatest(%(events)s, 1) AS step_ms;

-- 5,000 listeners per tenant, each with a hashed id, a platform, an app and a country: computed once
-- here rather than per event (string hashing per row would dominate the generation time).
DROP TABLE IF EXISTS pg_temp.sf_listeners;
CREATE TEMP TABLE sf_listeners ON COMMIT DROP AS
SELECT tn.tenant_id, n.n AS listener,
       md5(tn.tenant_id::text || ':' || n.n::text) AS listener_id,
       (ARRAY['ios', 'ios', 'android', 'android', 'web', 'desktop', 'smart_speaker', 'car'])
           [1 + floor(pg_temp.sf_r(n.n, %(seed)s + 6) * 8)::int] AS platform,
       (ARRAY['Apple Podcasts', 'Spotify', 'Overcast', 'Pocket Casts', 'Web player'])
           [1 + floor(pg_temp.sf_r(n.n, %(seed)s + 7) * 5)::int] AS app_name,
       (ARRAY['US', 'US', 'US', 'GB', 'DE', 'CA', 'AU', 'FR', 'ES', 'BR'])
           [1 + floor(pg_temp.sf_r(n.n, %(seed)s + 8) * 10)::int] AS country_code
FROM (SELECT DISTINCT tenant_id FROM sf_episodes) AS tn
CROSS JOIN generate_series(0, 4999) AS n (n);
CREATE UNIQUE INDEX ON sf_listeners (tenant_id, listener);
ANALYZE sf_listeners;

-- Events lo <= i < hi; with stride > 0 only those with i %% stride = 0 (sparse = true: enough to
-- create every chunk first) or the others (sparse = false: the parallel bulk).
-- step: listener_events
INSERT INTO public.listener_events (event_id, event_time, tenant_id, podcast_id, episode_id, listener_id,
                                    session_id, event_type, position_seconds, duration_seconds, platform,
                                    app_name, country_code)
SELECT encode(int8send((g.at_ms << 16) | 28672 | (g.i & 4095))
              || int8send(g.i | (-9223372036854775807 - 1)), 'hex')::uuid,
       g.start_ts + g.at_ms * INTERVAL '1 millisecond',
       ep.tenant_id, ep.podcast_id, ep.id,
       l.listener_id,
       encode(int8send(hashint8extended(g.i / 8, %(seed)s + 10)) || int8send(g.i / 8), 'hex')::uuid,
       g.event_type,
       CASE WHEN g.event_type = 'complete' THEN ep.duration_seconds
            WHEN g.event_type IN ('play', 'download') THEN 0
            ELSE floor(ep.duration_seconds * pg_temp.sf_r(g.i, %(seed)s + 4))::int END,
       CASE WHEN g.event_type IN ('pause', 'complete', 'skip')
            THEN floor(least(ep.duration_seconds, 1800) * pg_temp.sf_r(g.i, %(seed)s + 5))::int
            ELSE 0 END,
       l.platform, l.app_name, l.country_code
FROM (
    SELECT s.i, w.start_ts,
           w.start_ms + floor((s.i + pg_temp.sf_r(s.i, %(seed)s + 2)) * w.step_ms)::bigint AS at_ms,
           floor(pg_temp.sf_r(s.i, %(seed)s + 1) * d.listenable)::bigint AS ord,
           floor(pg_temp.sf_r(s.i, %(seed)s + 3) * 5000)::int AS listener,
           (ARRAY['play', 'play', 'play', 'play', 'play', 'play', 'play', 'pause', 'pause', 'pause',
                  'resume', 'resume', 'resume', 'seek', 'seek', 'complete', 'complete', 'complete',
                  'skip', 'download'])[1 + floor(pg_temp.sf_r(s.i, %(seed)s + 9) * 20)::int] AS event_type
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS s (i)
    JOIN sf_days d ON d.day = (s.i * %(days)s) / greatest(%(events)s::bigint, 1)
    CROSS JOIN sf_window w
    WHERE CASE WHEN %(stride)s = 0 THEN true
               ELSE (s.i %% greatest(%(stride)s, 1) = 0) = %(sparse)s END
) AS g
JOIN sf_episodes ep ON ep.ord = g.ord
JOIN sf_listeners l ON l.tenant_id = ep.tenant_id AND l.listener = g.listener
-- A seed whose tenants already have events adds none (no ON CONFLICT: it would double the cost).
WHERE NOT %(guard)s OR NOT EXISTS (SELECT 1 FROM public.listener_events x
                                   WHERE x.tenant_id = pg_temp.sf_id(%(seed)s, 'tenant', 1));

-- Attribution events: one for every 20 listener events, on campaigns that have started, between the
-- campaign's first day and min(its last day, the anchor), through the campaign's own link, code and
-- placements; inserted in time order, like the listener events.
-- step: attribution_events
DROP TABLE IF EXISTS pg_temp.sf_campaigns;
CREATE TEMP TABLE sf_campaigns ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY c.id) - 1 AS ord, c.id, c.tenant_id,
       c.starts_on::timestamptz AS first_moment,
       least((c.ends_on + 1)::timestamptz, %(anchor)s::timestamptz) AS last_moment,
       (SELECT l.id FROM public.tracking_links l WHERE l.campaign_id = c.id ORDER BY l.id LIMIT 1) AS link_id,
       (SELECT p.id FROM public.promo_codes p WHERE p.campaign_id = c.id ORDER BY p.id LIMIT 1) AS promo_id,
       (SELECT array_agg(pl.episode_id ORDER BY pl.slot) FROM public.campaign_placements pl
        WHERE pl.campaign_id = c.id) AS episodes
FROM public.campaigns c
JOIN public.tenants tn ON tn.id = c.tenant_id
WHERE tn.slug LIKE format('demo-%%s-%%%%', %(seed)s) AND c.starts_on::timestamptz < %(anchor)s::timestamptz;
ANALYZE sf_campaigns;

INSERT INTO public.attribution_events (event_id, event_time, tenant_id, campaign_id, episode_id,
                                       tracking_link_id, promo_code_id, event_type, revenue_cents,
                                       listener_id, country_code)
SELECT a.*
FROM (
    SELECT pg_temp.sf_id(%(seed)s, 'attribution', g.i) AS event_id,
           c.first_moment + (c.last_moment - c.first_moment) * pg_temp.sf_r(g.i, %(seed)s + 32) AS event_time,
           c.tenant_id, c.id,
           c.episodes[1 + floor(pg_temp.sf_r(g.i, %(seed)s + 33) * coalesce(cardinality(c.episodes), 0))::int],
           CASE WHEN g.event_type IN ('click', 'install') THEN c.link_id END,
           CASE WHEN g.event_type IN ('signup', 'purchase') THEN c.promo_id END,
           g.event_type,
           CASE WHEN g.event_type = 'purchase'
                THEN 500 + floor(pg_temp.sf_r(g.i, %(seed)s + 34) * 9500)::bigint ELSE 0 END,
           md5(c.tenant_id::text || ':' || floor(pg_temp.sf_r(g.i, %(seed)s + 35) * 5000)::int::text),
           (ARRAY['US', 'US', 'GB', 'DE', 'CA'])[1 + floor(pg_temp.sf_r(g.i, %(seed)s + 36) * 5)::int]
    FROM (
        SELECT i,
               floor(pg_temp.sf_r(i, %(seed)s + 31) * (SELECT count(*) FROM sf_campaigns))::bigint AS ord,
               (ARRAY['impression', 'impression', 'impression', 'impression', 'impression', 'impression',
                      'click', 'click', 'click', 'install', 'signup', 'purchase'])
                   [1 + floor(pg_temp.sf_r(i, %(seed)s + 37) * 12)::int] AS event_type
        FROM generate_series(1, %(events)s::bigint / 20) AS i
    ) AS g
    JOIN sf_campaigns c ON c.ord = g.ord
    WHERE NOT EXISTS (SELECT 1 FROM public.attribution_events x
                      WHERE x.tenant_id = pg_temp.sf_id(%(seed)s, 'tenant', 1))
) AS a
ORDER BY a.event_time;
