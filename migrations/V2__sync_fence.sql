-- Fencing for the write-behind: each syncd that wins the lease in Redis gets
-- a larger token, and every flush transaction records its token here. A
-- flush carrying a smaller token than one already recorded (a daemon that
-- lost its lease mid-flush) is rolled back, so an old snapshot can never
-- overwrite a newer one.
CREATE TABLE sync_fence (
    id    smallint PRIMARY KEY CHECK (id = 1),
    token bigint   NOT NULL
);
