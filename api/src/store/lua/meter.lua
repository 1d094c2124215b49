-- Meters one request (see gcra.lua). KEYS[1] the principal's key,
-- ARGV[1] the interval in ms, ARGV[2] the burst, ARGV[3] how many to take.
return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
