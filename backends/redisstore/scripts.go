package redisstore

import "github.com/redis/go-redis/v9"

// A record is a hash {v: version, d: blob, e: expiry in Unix ms} whose key
// expires at e (PEXPIREAT): every write sets the field and the key's expiry
// together, atomically, so a read is one plain HMGET (see Store.Load).
// Records written before the field e existed ({v, d} with the expiry only
// in PEXPIREAT) are read by legacyLoadScript, which adds e (see doc.go).
//
// The scripts below return small integers for outcomes other than success:
const (
	resConflict = -1 // the stored version is not the expected one
	resForeign  = -2 // the key holds something this store did not write
	resTaken    = -3 // renewScript: the new key exists
)

// Record fields.
const (
	fieldVersion = "v"
	fieldBlob    = "d"
	fieldExpiry  = "e"
)

// legacyLoadScript reads a record whose field e is missing (written before
// it existed) or says the record has expired although the key still exists
// (its expiry was moved by a writer that did not set e). It returns
// {version, blob, expiry in Unix ms} with the expiry of the key itself, and
// stores that expiry in e, so that the next read is a plain HMGET again;
// nil when the key does not exist, or resForeign. PEXPIRETIME exists from
// Redis 7.0; before that the expiry is derived from PTTL and TIME.
//
// KEYS[1] record key.
var legacyLoadScript = redis.NewScript(`
local r = redis.pcall('HMGET', KEYS[1], 'v', 'd', 'e')
if r['err'] then return -2 end
if not r[1] then
  if redis.call('EXISTS', KEYS[1]) == 1 then return -2 end
  return false
end
local t = redis.pcall('PEXPIRETIME', KEYS[1])
if type(t) == 'table' then
  t = redis.call('PTTL', KEYS[1])
  if t >= 0 then
    local now = redis.call('TIME')
    t = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + t
  end
end
if t >= 0 and r[3] ~= tostring(t) then
  redis.call('HSET', KEYS[1], 'e', tostring(t))
end
return {r[1], r[2], t}
`)

// versionLua reads the version of a record as a decimal string: '0' when
// the key does not exist, nil when it holds something this store did not
// write (another type, or a hash without a version). A record in its last
// millisecond (PTTL 0: Load already reports it expired, Redis has not
// removed it yet) is deleted and counts as missing, so that an expired
// record never passes a compare-and-set.
const versionLua = `
local function version(k)
  local cur = redis.pcall('HGET', k, 'v')
  if type(cur) == 'table' then return nil end
  if not cur then
    if redis.call('EXISTS', k) == 1 then return nil end
    return '0'
  end
  if redis.call('PTTL', k) == 0 then
    redis.call('DEL', k)
    return '0'
  end
  return cur
end
`

// saveScript is the compare-and-set. It writes the version, the blob and
// the expiry fields and sets the key's expiry. It returns 1 when it wrote, 0 when it
// deleted (ARGV[5] == '1'), resConflict or resForeign. Versions are compared
// as decimal strings, so they never pass through Lua's floating-point
// numbers.
//
// Save deletes with it when the expiry has passed; Renew in Cluster uses the
// delete mode as an atomic "delete if the version is ARGV[1]" on the old
// record (with ARGV[1] '0' it only checks that the key does not exist).
//
// KEYS[1] record key; ARGV[1] expected version ('0': must not exist),
// ARGV[2] new version, ARGV[3] blob, ARGV[4] expiry in Unix ms, ARGV[5] '1'
// to delete instead of writing.
var saveScript = redis.NewScript(saveLua)

const saveLua = versionLua + `
local cur = version(KEYS[1])
if not cur then return -2 end
if cur ~= ARGV[1] then return -1 end
if ARGV[5] == '1' then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3], 'e', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1
`

// touchScript sets the expiry of a record: the field e and the key's
// expiry, together. A missing key is left missing (a plain HSET would
// create it). On a key that is not a record of this store it only sets the
// key's expiry, as a plain PEXPIREAT would. An expiry that has passed
// deletes the key. It returns 1 when the key existed.
//
// KEYS[1] record key; ARGV[1] expiry in Unix ms.
var touchScript = redis.NewScript(`
local isrec = redis.pcall('HEXISTS', KEYS[1], 'v')
if isrec == 1 then redis.call('HSET', KEYS[1], 'e', ARGV[1]) end
return redis.call('PEXPIREAT', KEYS[1], ARGV[1])
`)

// indexLua updates a user index: a sorted set of session keys scored by the
// absolute deadline in Unix ms. It drops entries whose deadline has passed,
// removes one member, adds one, and expires the set with its latest entry.
// A member added again keeps the later of its two deadlines (ZADD GT, which
// needs Redis 6.2, written out), so the set's expiry, always its latest
// score, never moves earlier than any entry's deadline. Unix ms fit Lua's
// numbers exactly.
const indexLua = `
local function expireindex(k)
  local top = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
  if top[2] then redis.call('PEXPIREAT', k, top[2]) end
end
local function index(k, now, rm, add, deadline)
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
  if rm then redis.call('ZREM', k, rm) end
  if add and tonumber(deadline) > tonumber(now) then
    local cur = redis.call('ZSCORE', k, add)
    if not cur or tonumber(deadline) > tonumber(cur) then
      redis.call('ZADD', k, deadline, add)
    end
  end
  expireindex(k)
end
`

// indexScript runs index on one user index key.
//
// KEYS[1] index key; ARGV[1] now in Unix ms; ARGV[2] '1' to remove ARGV[3];
// ARGV[4] '1' to add ARGV[5] with deadline ARGV[6].
var indexScript = redis.NewScript(indexLua + `
local rm, add
if ARGV[2] == '1' then rm = ARGV[3] end
if ARGV[4] == '1' then add = ARGV[5] end
index(KEYS[1], ARGV[1], rm, add, ARGV[6])
return 1
`)

// renewScript replaces one record by another atomically when all keys live
// on one server. Unless the old record's version is ARGV[1] ('0': it must
// not exist), it returns resConflict, or resForeign when the old key holds
// something this store did not write; unless the new key is free, resTaken.
// In those cases it changes nothing. Otherwise it creates the new record with
// version 1, deletes the old one and, when KEYS[3] is given, moves the user
// index entry, and returns 1.
//
// KEYS[1] old record, KEYS[2] new record, KEYS[3] index (optional);
// ARGV[1] old version, ARGV[2] blob, ARGV[3] expiry in Unix ms, ARGV[4] now
// in Unix ms, ARGV[5] old member, ARGV[6] new member, ARGV[7] deadline in
// Unix ms.
var renewScript = redis.NewScript(renewLua)

const renewLua = versionLua + indexLua + `
local cur = version(KEYS[1])
if not cur then return -2 end
if cur ~= ARGV[1] then return -1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -3 end
redis.call('HSET', KEYS[2], 'v', '1', 'd', ARGV[2], 'e', ARGV[3])
redis.call('PEXPIREAT', KEYS[2], ARGV[3])
redis.call('DEL', KEYS[1])
if KEYS[3] then index(KEYS[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]) end
return 1
`

// limitLua picks the victims of a per-user limit among the members of
// index k (ascending deadline, equal deadlines in byte order: ZRANGE's
// order), removes them from the index and returns them. isLive(m) says
// whether member m's record is live. Entries past their deadline and those
// of dead records are removed and not counted; keep counts but is never a
// victim. When pending is given, each victim moves there with its deadline
// (see limitIndexScript). Members are removed one at a time (no unpack,
// whose stack is bounded).
const limitLua = `
local function limit(k, now, keep, max, isLive, pending)
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
  local entries = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  local live, score = {}, {}
  for i = 1, #entries, 2 do
    local m = entries[i]
    if isLive(m) then
      live[#live + 1] = m
      score[m] = entries[i + 1]
    else
      redis.call('ZREM', k, m)
    end
  end
  local excess = #live - max
  local victims = {}
  for _, m in ipairs(live) do
    if excess <= 0 then break end
    if m ~= keep then
      redis.call('ZREM', k, m)
      if pending then redis.call('ZADD', pending, score[m], m) end
      victims[#victims + 1] = m
      excess = excess - 1
    end
  end
  expireindex(k)
  return victims
end
`

// limitScript enforces a per-user limit in one atomic step when all keys
// live on one server: a member is live when its record key exists and is
// not in its last millisecond (which Load already reports expired), and the
// victims' records are deleted by the script. The record keys are built
// from the prefix, not declared in KEYS: the members are known only inside
// the script, and a server outside Cluster mode allows that.
//
// KEYS[1] index key; ARGV[1] now in Unix ms, ARGV[2] the key prefix,
// ARGV[3] keep, ARGV[4] max. It returns the deleted keys.
var limitScript = redis.NewScript(indexLua + limitLua + `
local prefix = ARGV[2]
local victims = limit(KEYS[1], ARGV[1], ARGV[3], tonumber(ARGV[4]), function(m)
  local t = redis.call('PTTL', prefix .. m)
  return t > 0 or t == -1
end)
for _, m in ipairs(victims) do redis.call('DEL', prefix .. m) end
return victims
`)

// limitIndexScript is the index step of a per-user limit in Cluster, where
// the records live in other slots: the caller checked the records (of the
// index and of the pending set) before and passes those it found missing;
// every other member (including those added since) counts as live. It moves
// the victims from the index to the pending set (a sorted set like the
// index, in its slot), drops the missing members from both, and returns
// every member of the pending set: the keys whose records the caller must
// delete. A victim stays pending until a later call finds its record gone,
// so a lost reply, a retried script or failed deletes never leave a
// session alive outside both sets.
//
// KEYS[1] index key, KEYS[2] pending set; ARGV[1] now in Unix ms, ARGV[2]
// keep, ARGV[3] max, ARGV[4...] members whose records were found missing.
var limitIndexScript = redis.NewScript(indexLua + limitLua + `
local dead = {}
for i = 4, #ARGV do
  dead[ARGV[i]] = true
  redis.call('ZREM', KEYS[2], ARGV[i])
end
limit(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]), function(m)
  return not dead[m]
end, KEYS[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
expireindex(KEYS[2])
return redis.call('ZRANGE', KEYS[2], 0, -1)
`)

// scripts lists every script, for LoadScripts.
var scripts = []*redis.Script{legacyLoadScript, saveScript, touchScript, indexScript, renewScript, limitScript, limitIndexScript}
