-- Meters one request (see gcra.lua). KEYS[1] the principal's key,
-- ARGV[1] the interval in ms, ARGV[2] the burst.
return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
