-- State A (the live database): a new table whose default uses a new sequence: the sequence must be created first
CREATE TABLE public.podcasts (id integer PRIMARY KEY, title text NOT NULL);
INSERT INTO public.podcasts VALUES (1, 'Daily Data'), (2, 'Night Shift');
