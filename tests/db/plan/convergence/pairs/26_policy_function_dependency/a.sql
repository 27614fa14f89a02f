-- State A (the live database): a function a policy calls changes its return type: drop policy, drop and create the function, create the policy
CREATE FUNCTION public.tenant_num() RETURNS integer LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('app.tenant', true), '')::integer $$;
CREATE TABLE public.documents (id integer PRIMARY KEY, owner_id bigint NOT NULL);
INSERT INTO public.documents VALUES (1, 1), (2, 2);
ALTER TABLE public.documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON public.documents USING (owner_id = public.tenant_num());
