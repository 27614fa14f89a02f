-- State A (the live database): the table was renamed in the database (it kept referrals_pkey): plan a RENAME that keeps the rows
CREATE TABLE public.referrals (id integer PRIMARY KEY, code text NOT NULL UNIQUE, tenant_id integer NOT NULL);
INSERT INTO public.referrals VALUES (1, 'WELCOME', 1), (2, 'FRIEND', 2);
ALTER TABLE public.referrals RENAME TO referral_invites;
