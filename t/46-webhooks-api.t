use strict;
use warnings;
use utf8;
use Test::More;
use lib 't/lib';
use SalesTest;
use WebhookReceiver;
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

# The admin API of webhooks: endpoints, secrets, deliveries, replays, roles.
# Loopback is allowed so deliveries reach the receiver; short retries make
# a delivery to a closed port fail within seconds.
my $t   = SalesTest->new(workers => 2, http_extra => join "\n    ",
                         'sales_webhook_allow 127.0.0.0/8 ::1/128;',
                         'sales_webhook_poll 100ms;',
                         'sales_webhook_retry 1s 1s;');
my $rcv = WebhookReceiver->new(dir => "$t->{dir}/receiver");
my $adm = $t->{admin};
my $J   = $SalesTest::JSON;
my $T   = JSON::PP::true;
my $F   = JSON::PP::false;

my $ISO    = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
my $SECRET = qr{^whsec_[A-Za-z0-9+/]{43}=$};
my @TYPES  = qw(client.created client.updated client.archived client.unarchived
                opportunity.created opportunity.updated opportunity.stage_changed
                proposal.created proposal.sent proposal.revised proposal.accepted
                proposal.rejected proposal.viewed webhook.endpoint_disabled);
my @EP_KEYS = qw(id url events description enabled disabled_at disabled_reason failing_since
                 previous_secret_expires_at pending created_at updated_at version);
my @DL_KEYS = qw(id endpoint_id event_id event_type subject status attempt_count next_attempt_at
                 last_response_status last_error delivered_at attempts created_at updated_at);
my @AT_KEYS = qw(at response_status latency_ms error replay response_excerpt);

# --- helpers -------------------------------------------------------------------------------------------------

sub tok  { ref $_[0] ? $_[0]{token} : $_[0] }
sub call { my ($method, $path, $who, $body) = @_; $t->api($method, $path, tok($who), $body) }
sub items { my $j = $_[0]{json}; ref $j eq 'HASH' && ref $j->{items} eq 'ARRAY' ? $j->{items} : [] }
sub epoch {
    my ($y, $mo, $d, $h, $mi, $s) = ($_[0] // '') =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/ or return undef;
    return timegm($s, $mi, $h, $d, $mo - 1, $y);
}
sub iso {
    my @g = gmtime shift;
    return sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0];
}
# Calls $code every 100 ms until it answers true or $secs pass; answers what it answered.
sub endpoint_get { my $r = call(GET => "/webhooks/endpoints/$_[0]", $adm); ref $r->{json} eq 'HASH' ? $r->{json} : {} }
sub delivery_get { my $r = call(GET => "/webhooks/deliveries/$_[0]", $adm); ref $r->{json} eq 'HASH' ? $r->{json} : {} }
sub deliveries   { items(call(GET => "/webhooks/deliveries?$_[0]", $adm)) }
sub endpoint_ids { [map { $_->{id} } @{ items(call(GET => "/webhooks/endpoints?limit=200$_[0]", $adm)) }] }
sub audit_count  { $t->sql('select count(*) from audit_log') }
sub has_keys {
    my ($obj, $keys, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @missing = grep { !exists $obj->{$_} } @$keys;
    ok(!@missing, "$name: has every field") or diag("missing: @missing in " . $J->encode($obj));
}
sub no_secret {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    unlike($r->{content}, qr/whsec_/, "$name: no secret in the answer");
    my @objs = ref $r->{json} eq 'HASH' && ref $r->{json}{items} eq 'ARRAY' ? @{ $r->{json}{items} } : ($r->{json});
    ok(!grep({ ref $_ eq 'HASH' && (exists $_->{secret} || exists $_->{previous_secret}) } @objs),
       "$name: no secret field");
}
# The names in GET /webhooks/event-types: strings, or objects with type/name.
sub type_names {
    my $j = shift;
    my $list = ref $j eq 'ARRAY' ? $j
             : ref $j eq 'HASH' && ref $j->{items} eq 'ARRAY' ? $j->{items}
             : ref $j eq 'HASH' && ref $j->{types} eq 'ARRAY' ? $j->{types} : [];
    return map { ref $_ eq 'HASH' ? ($_->{type} // $_->{name} // '') : $_ } @$list;
}
# The delivery a ping answers: the delivery itself, or {delivery_id}, or {delivery: {id}}.
sub ping_delivery {
    my $j = shift;
    return 0 unless ref $j eq 'HASH';
    return $j->{delivery_id} // (ref $j->{delivery} eq 'HASH' ? $j->{delivery}{id} : undef) // $j->{id} // 0;
}
# Webhook ids of the receiver's requests on a path.
sub received { my $path = shift; map { $_->{headers}{'webhook-id'} // '' } grep { $_->{path} eq $path } $rcv->requests }
sub client_events {
    my $cid = shift;
    return split /\n/, $t->sql("select event_id from outbox where subject_type = 'client' and subject_id = $cid order by id") // '';
}

my $ae  = $t->user('ae');
my $mgr = $t->user('manager');
my $ae2 = $t->user('ae', manager_id => $mgr->{id});
my $in  = $t->user('integration');

# --- event types -------------------------------------------------------------------------------------------------
my $r = call(GET => '/webhooks/event-types', $adm);
is($r->{status}, 200, 'GET /webhooks/event-types 200');
like($r->{headers}{'content-type'} // '', qr{^application/json}, 'event types: JSON');
my %known = map { $_ => 1 } type_names($r->{json});
ok(!grep({ !$known{$_} } @TYPES), 'every known event type is listed')
    or diag('missing: ' . join(' ', grep { !$known{$_} } @TYPES) . " in $r->{content}");

# --- create ---------------------------------------------------------------------------------------------------------
my $audit0 = audit_count();
$r = call(POST => '/webhooks/endpoints', $adm,
          { url => $rcv->url('/a'), events => ['client.*'], description => 'CRM' });
is($r->{status}, 201, 'POST /webhooks/endpoints 201') or diag($r->{content});
my $A = $r->{json} || {};
has_keys($A, \@EP_KEYS, 'created endpoint');
like($A->{id} // '', qr/^\d+$/, 'id is an integer');
is($A->{url}, $rcv->url('/a'), 'url');
is_deeply($A->{events}, ['client.*'], 'events');
is($A->{description}, 'CRM', 'description');
ok(JSON::PP::is_bool($A->{enabled}) && $A->{enabled}, 'enabled true by default');
ok(!defined $A->{disabled_at} && !defined $A->{disabled_reason}, 'not disabled');
ok(!defined $A->{failing_since}, 'not failing');
ok(!defined $A->{previous_secret_expires_at}, 'no previous secret');
is($A->{pending}, 0, 'pending 0');
like($A->{created_at} // '', $ISO, 'created_at ISO');
like($A->{secret} // '', $SECRET, 'the answer carries the secret: whsec_ + base64 of 32 bytes');
is(audit_count(), $audit0 + 1, 'creating an endpoint is audited');
my $secretA = $A->{secret} // '';

$r = call(POST => '/webhooks/endpoints', $adm, { url => $rcv->url('/b') });
is($r->{status}, 201, 'create with url alone 201') or diag($r->{content});
my $B = $r->{json} || {};
is_deeply($B->{events}, ['*'], 'events default to ["*"]');
ok($B->{enabled}, 'enabled by default');
ok(exists $B->{description} && !defined $B->{description}, 'description null');
like($B->{secret} // '', $SECRET, 'a secret');
isnt($B->{secret}, $secretA, 'each endpoint its own secret');

$r = call(POST => '/webhooks/endpoints', $adm,
          { url => 'https://hooks.example.ro/sales', events => ['proposal.*', 'opportunity.stage_changed'], enabled => $F });
is($r->{status}, 201, 'create disabled 201') or diag($r->{content});
my $C = $r->{json} || {};
ok(JSON::PP::is_bool($C->{enabled}) && !$C->{enabled}, 'enabled false');
is_deeply($C->{events}, ['proposal.*', 'opportunity.stage_changed'], 'prefix and exact types');

# GET and list never show the secret.
$r = call(GET => "/webhooks/endpoints/$A->{id}", $adm);
is($r->{status}, 200, 'GET endpoint 200');
has_keys($r->{json} || {}, \@EP_KEYS, 'GET endpoint');
no_secret($r, 'GET endpoint');
is(($r->{json} || {})->{url}, $A->{url}, 'GET: the same url');
is(($r->{json} || {})->{version}, $A->{version}, 'GET: the same version');
$r = call(GET => '/webhooks/endpoints', $adm);
is($r->{status}, 200, 'list 200');
no_secret($r, 'list');

# --- validation -----------------------------------------------------------------------------------------------------
my $OK   = 'https://hooks.example.ro/x';
my $BASE = 'https://example.ro/';
my $n0   = scalar @{ endpoint_ids('') };
$audit0  = audit_count();
for my $case (
    [{ url => 'ftp://example.ro/x' },                               ['#/url'],              'ftp scheme'],
    [{ url => 'file:///etc/passwd' },                               ['#/url'],              'file scheme'],
    [{},                                                            ['#/url'],              'no url'],
    [{ events => ['*'] },                                           ['#/url'],              'events without url'],
    [{ url => 'https://user:pass@example.ro/x' },                   ['#/url'],              'user and password'],
    [{ url => 'https://user@example.ro/x' },                        ['#/url'],              'a user'],
    [{ url => 'https://example.ro/x#frag' },                        ['#/url'],              'a fragment'],
    [{ url => $BASE . ('a' x (2049 - length $BASE)) },              ['#/url'],              '2049 characters'],
    [{ url => 'https:///x' },                                       ['#/url'],              'no host'],
    [{ url => 'example.ro/x' },                                     ['#/url'],              'no scheme'],
    [{ url => '' },                                                 ['#/url'],              'empty url'],
    [{ url => 5 },                                                  ['#/url'],              'url not a string'],
    [{ url => undef },                                              ['#/url'],              'url null'],
    [{ url => $OK, events => ['client.created', 'client.exploded'] }, ['#/events/1'],       'an unknown type'],
    [{ url => $OK, events => ['nonsense'] },                        ['#/events/0'],         'a type of no known form'],
    [{ url => $OK, events => 'client.*' },                          ['#/events'],           'events not an array'],
    [{ url => $OK, events => { 'client.*' => 1 } },                 ['#/events'],           'events an object'],
    [{ url => $OK, events => [5] },                                 ['#/events/0'],         'a type not a string'],
    [{ url => $OK, enabled => 'yes' },                              ['#/enabled'],          'enabled not a boolean'],
    [{ url => $OK, description => 5 },                              ['#/description'],      'description not a string'],
    [{ url => $OK, colour => 'red' },                               ['#/colour'],           'an unknown field'],
    [{ url => $OK, secret => $secretA },                            ['#/secret'],           'the secret cannot be chosen'],
    [{ url => 'ftp://example.ro/x', colour => 'red' },              ['#/colour', '#/url'],  'two errors at once'],
) {
    invalid(call(POST => '/webhooks/endpoints', $adm, $case->[0]), 422, 'validation', $case->[1], "create refused: $case->[2]");
}
problem(call(POST => '/webhooks/endpoints', $adm, '{"url":'), 400, 'malformed', 'malformed body');
problem(call(POST => '/webhooks/endpoints', $adm, '["x"]'), 400, 'malformed', 'body not an object');
is(scalar @{ endpoint_ids('') }, $n0, 'refused creates make no endpoint');
is(audit_count(), $audit0, 'refused creates write no audit row');

# 2048 characters is the limit, not over it.
$r = call(POST => '/webhooks/endpoints', $adm, { url => $BASE . ('a' x (2048 - length $BASE)) });
is($r->{status}, 201, 'a url of exactly 2048 characters 201') or diag(substr $r->{content}, 0, 300);
my $long = ($r->{json} || {})->{id} // 0;
is(length(($r->{json} || {})->{url} // ''), 2048, 'kept whole');
$r = call(DELETE => "/webhooks/endpoints/$long", $adm);
is($r->{status}, 204, 'DELETE endpoint 204') or diag($r->{content});
problem(call(GET => "/webhooks/endpoints/$long", $adm), 404, 'not-found', 'deleted endpoint');
problem(call(DELETE => "/webhooks/endpoints/$long", $adm), 404, 'not-found', 'deleted twice');

# --- list ------------------------------------------------------------------------------------------------------------------
my $ids = endpoint_ids('');
ok((grep { $_ == $A->{id} } @$ids) && (grep { $_ == $B->{id} } @$ids) && (grep { $_ == $C->{id} } @$ids),
   'the list has the three endpoints');
is_deeply($ids, [sort { $a <=> $b } @$ids], 'listed by id');
ok(!grep({ $_ == $long } @$ids), 'not the deleted one');
my $off = endpoint_ids('&enabled=false');
ok((grep { $_ == $C->{id} } @$off) && !(grep { $_ == $A->{id} || $_ == $B->{id} } @$off), 'enabled=false: the disabled one only');
my $on = endpoint_ids('&enabled=true');
ok((grep { $_ == $A->{id} } @$on) && !(grep { $_ == $C->{id} } @$on), 'enabled=true: not the disabled one');
$r = call(GET => '/webhooks/endpoints?limit=1', $adm);
is(scalar @{ items($r) }, 1, 'limit=1: one');
my $cursor = ($r->{json} || {})->{next_cursor};
ok(defined $cursor && length $cursor, 'limit=1: next_cursor');
my $first = (items($r)->[0] || {})->{id} // 0;
$r = call(GET => '/webhooks/endpoints?limit=1&cursor=' . ($cursor // ''), $adm);
cmp_ok((items($r)->[0] || {})->{id} // 0, '>', $first, 'the cursor gives the next one');
problem(call(GET => '/webhooks/endpoints?enabled=maybe', $adm), 400, 'malformed', 'enabled=maybe');

# --- patch ------------------------------------------------------------------------------------------------------------------
$r = call(PATCH => "/webhooks/endpoints/$A->{id}", $adm, { description => 'CRM 2', events => ['client.*', 'proposal.sent'] });
is($r->{status}, 200, 'PATCH 200') or diag($r->{content});
my $A2 = $r->{json} || {};
is($A2->{description}, 'CRM 2', 'description changed');
is_deeply($A2->{events}, ['client.*', 'proposal.sent'], 'events changed');
is($A2->{version}, ($A->{version} // 0) + 1, 'version grows');
no_secret($r, 'PATCH');
$r = call(PATCH => "/webhooks/endpoints/$A->{id}", $adm, { description => undef });
is($r->{status}, 200, 'PATCH description null 200');
ok(!defined(($r->{json} || {})->{description}), 'null clears the description');
for my $case (
    [{ url => 'ftp://example.ro/x' },        ['#/url'],        'ftp scheme'],
    [{ url => 'https://a:b@example.ro/x' },  ['#/url'],        'user and password'],
    [{ url => undef },                       ['#/url'],        'url null'],
    [{ events => ['client.nope'] },          ['#/events/0'],   'an unknown type'],
    [{ events => 'client.*' },               ['#/events'],     'events not an array'],
    [{ enabled => 1 },                       ['#/enabled'],    'enabled a number'],
    [{ secret => $secretA },                 ['#/secret'],     'the secret'],
    [{ colour => 'red' },                    ['#/colour'],     'an unknown field'],
) {
    invalid(call(PATCH => "/webhooks/endpoints/$A->{id}", $adm, $case->[0]), 422, 'validation', $case->[1], "PATCH refused: $case->[2]");
}
is(endpoint_get($A->{id})->{version}, ($A->{version} // 0) + 2, 'refused PATCHes change nothing');
problem(call(PATCH => '/webhooks/endpoints/999999', $adm, { description => 'x' }), 404, 'not-found', 'PATCH unknown endpoint');
problem(call(GET => '/webhooks/endpoints/999999', $adm), 404, 'not-found', 'GET unknown endpoint');

# Disabling by hand, and enabling again.
$r = call(PATCH => "/webhooks/endpoints/$C->{id}", $adm, { enabled => $T });
is($r->{status}, 200, 'enable 200');
ok(($r->{json} || {})->{enabled}, 'enabled');
ok(!defined(($r->{json} || {})->{disabled_reason}) && !defined(($r->{json} || {})->{disabled_at}), 'no disabled_reason, no disabled_at');
$r = call(PATCH => "/webhooks/endpoints/$C->{id}", $adm, { enabled => $F });
is($r->{status}, 200, 'disable 200');
ok(!($r->{json} || {})->{enabled}, 'disabled');
is(($r->{json} || {})->{disabled_reason}, 'manual', 'disabled_reason manual');
like(($r->{json} || {})->{disabled_at} // '', $ISO, 'disabled_at');

# --- rotate-secret ------------------------------------------------------------------------------------------------------------
$r = call(POST => "/webhooks/endpoints/$B->{id}/rotate-secret", $adm, { grace_seconds => 3600 });
is($r->{status}, 200, 'rotate-secret 200') or diag($r->{content});
my $rot = $r->{json} || {};
like($rot->{secret} // '', $SECRET, 'a new secret');
isnt($rot->{secret}, $B->{secret}, 'not the old one');
my $exp = epoch($rot->{previous_secret_expires_at});
ok(defined $exp && abs($exp - (time + 3600)) < 120, 'previous_secret_expires_at in an hour')
    or diag($rot->{previous_secret_expires_at} // 'undef');
$r = call(GET => "/webhooks/endpoints/$B->{id}", $adm);
is(($r->{json} || {})->{previous_secret_expires_at}, $rot->{previous_secret_expires_at}, 'GET shows when the old secret ends');
no_secret($r, 'GET after rotation');
$r = call(POST => "/webhooks/endpoints/$B->{id}/rotate-secret", $adm);
is($r->{status}, 200, 'rotate-secret without a body 200') or diag($r->{content});
$exp = epoch(($r->{json} || {})->{previous_secret_expires_at});
ok(defined $exp && abs($exp - (time + 86400)) < 120, 'grace defaults to 86400 s')
    or diag(($r->{json} || {})->{previous_secret_expires_at} // 'undef');
my $seen = { map { $_ => 1 } $B->{secret}, $rot->{secret} };
ok(!$seen->{ ($r->{json} || {})->{secret} // '' }, 'another new secret');
for my $g (-1, 604801, '3600', 1.5) {
    invalid(call(POST => "/webhooks/endpoints/$B->{id}/rotate-secret", $adm, { grace_seconds => $g }), 422, 'validation',
            ['#/grace_seconds'], 'grace_seconds ' . ($J->encode($g)));
}
invalid(call(POST => "/webhooks/endpoints/$B->{id}/rotate-secret", $adm, { colour => 'red' }), 422, 'validation',
        ['#/colour'], 'rotate-secret: an unknown field');
for my $g (0, 604800) {
    $r = call(POST => "/webhooks/endpoints/$B->{id}/rotate-secret", $adm, { grace_seconds => $g });
    is($r->{status}, 200, "grace_seconds $g 200") or diag($r->{content});
    like(($r->{json} || {})->{secret} // '', $SECRET, "grace_seconds $g: a secret");
}
problem(call(POST => '/webhooks/endpoints/999999/rotate-secret', $adm, { grace_seconds => 60 }), 404, 'not-found',
        'rotate-secret of an unknown endpoint');

# --- deliveries: pending ------------------------------------------------------------------------------------------------------
# D: a receiver that answers; F: a closed port, so its deliveries fail after 3 attempts.
my $dead = SalesTest::free_port();
my $D = must(call(POST => '/webhooks/endpoints', $adm, { url => $rcv->url('/d'), events => ['client.*'] }), 201, 'endpoint D');
my $Fe = must(call(POST => '/webhooks/endpoints', $adm,
                   { url => "http://127.0.0.1:$dead/f", events => ['client.created'] }), 201, 'endpoint F');

$rcv->set(delay => 1.5);
my @slow = map { must(call(POST => '/clients', $ae, { name => "Lent $_ SRL" }), 201, "client $_") } 1 .. 3;
my $max = 0;
poll(sub { my $p = endpoint_get($D->{id})->{pending} // 0; $max = $p if $p > $max; $max >= 3 }, 5);
is($max, 3, 'pending counts the three deliveries waiting on a slow receiver');
ok(poll(sub { (endpoint_get($D->{id})->{pending} // -1) == 0 }, 10), 'pending back to 0 once they are delivered');
$rcv->set;

# --- deliveries: filters ------------------------------------------------------------------------------------------------------
my $x = must(call(POST => '/clients', $ae, { name => 'Filtru SRL' }), 201, 'client X');
must(call(PATCH => "/clients/$x->{id}", $ae, { city => 'Cluj-Napoca' }), 200, 'update X');
my ($ex, $eu) = client_events($x->{id});
like($ex // '', qr/^evt_/, 'client.created event id');
like($eu // '', qr/^evt_/, 'client.updated event id');
$ex //= 'none'; $eu //= 'none';

my $dx = poll(sub { my $i = deliveries("endpoint_id=$D->{id}&event_id=$ex")->[0]; $i && $i->{status} eq 'succeeded' ? $i : undef }, 10) || {};
my $du = poll(sub { my $i = deliveries("endpoint_id=$D->{id}&event_id=$eu")->[0]; $i && $i->{status} eq 'succeeded' ? $i : undef }, 10) || {};
my $fx = poll(sub { my $i = deliveries("endpoint_id=$Fe->{id}&event_id=$ex")->[0]; $i && $i->{status} eq 'failed' ? $i : undef }, 10) || {};
ok($dx->{id} && $du->{id}, "D's deliveries succeeded");
ok($fx->{id}, "F's delivery failed after its retries");
ok(poll(sub { @{ deliveries("endpoint_id=$Fe->{id}&status=failed") } >= 4 }, 10), "all four of F's deliveries failed");

# One delivery, whole.
$r = call(GET => "/webhooks/deliveries/$dx->{id}", $adm);
is($r->{status}, 200, 'GET delivery 200');
my $d1 = $r->{json} || {};
has_keys($d1, \@DL_KEYS, 'delivery');
is($d1->{endpoint_id}, $D->{id}, 'endpoint_id');
is($d1->{event_id}, $ex, 'event_id');
is($d1->{event_type}, 'client.created', 'event_type');
ok(defined $d1->{subject} && length $d1->{subject}, 'subject');
is($d1->{status}, 'succeeded', 'status succeeded');
is($d1->{attempt_count}, 1, 'one attempt');
is($d1->{last_response_status}, 200, 'last_response_status 200');
like($d1->{delivered_at} // '', $ISO, 'delivered_at');
like($d1->{created_at} // '', $ISO, 'created_at');
my $at = ref $d1->{attempts} eq 'ARRAY' ? $d1->{attempts} : [];
is(scalar @$at, 1, 'attempts: one');
has_keys($at->[0] || {}, \@AT_KEYS, 'attempt');
like(($at->[0] || {})->{at} // '', $ISO, 'attempt at');
is(($at->[0] || {})->{response_status}, 200, 'attempt response_status 200');
like(($at->[0] || {})->{latency_ms} // '', qr/^\d+$/, 'latency_ms an integer');
ok(JSON::PP::is_bool(($at->[0] || {})->{replay}) && !($at->[0] || {})->{replay}, 'not a replay');
like(($at->[0] || {})->{response_excerpt} // '', qr/status 200/, 'the answer is kept');

my $f1 = delivery_get($fx->{id});
is($f1->{status}, 'failed', 'F: failed');
is($f1->{attempt_count}, 3, 'F: three attempts (the first and two retries)');
ok(!defined $f1->{delivered_at}, 'F: delivered_at null');
ok(!defined $f1->{next_attempt_at}, 'F: no next attempt');
ok(defined $f1->{last_error} && length $f1->{last_error}, 'F: last_error') or diag($J->encode($f1));
ok(!grep({ defined $_->{response_status} || !length($_->{error} // '') } @{ $f1->{attempts} || [] }),
   'F: every attempt has an error and no status') or diag($J->encode($f1->{attempts}));

# The filters.
my $all = deliveries('limit=200');
my @all_ids = map { $_->{id} } @$all;
is_deeply(\@all_ids, [sort { $b <=> $a } @all_ids], 'newest first');
my $byD = deliveries("endpoint_id=$D->{id}&limit=200");
ok(@$byD && !grep({ $_->{endpoint_id} != $D->{id} } @$byD), 'endpoint_id: only that endpoint');
ok((grep { $_->{id} == $dx->{id} } @$byD) && (grep { $_->{id} == $du->{id} } @$byD)
   && !(grep { $_->{id} == $fx->{id} } @$byD), "endpoint_id: D's deliveries, not F's");
is(scalar @$byD, 5, 'D: five deliveries (three slow clients, X created and updated)');
my $ok = deliveries('status=succeeded&limit=200');
ok(@$ok && !grep({ $_->{status} ne 'succeeded' } @$ok) && grep({ $_->{id} == $dx->{id} } @$ok), 'status=succeeded');
my $bad = deliveries('status=failed&limit=200');
ok(@$bad && !grep({ $_->{status} ne 'failed' } @$bad) && grep({ $_->{id} == $fx->{id} } @$bad), 'status=failed');
my $pend = deliveries('status=pending&limit=200');
ok(!grep({ $_->{status} ne 'pending' } @$pend), 'status=pending: only pending ones');
my $upd = deliveries('event=client.updated&limit=200');
ok(@$upd && !grep({ $_->{event_type} ne 'client.updated' } @$upd)
   && grep({ $_->{id} == $du->{id} } @$upd) && !grep({ $_->{id} == $dx->{id} } @$upd), 'event=client.updated');
my $ev = deliveries("event_id=$ex&limit=200");
ok(@$ev && !grep({ $_->{event_id} ne $ex } @$ev), 'event_id: only that event');
ok((grep { $_->{id} == $dx->{id} } @$ev) && (grep { $_->{id} == $fx->{id} } @$ev), 'event_id: to every endpoint that has it');
my $both = deliveries("endpoint_id=$Fe->{id}&status=failed&limit=200");
is(scalar @$both, 4, 'endpoint_id and status together');
ok(!grep({ $_->{endpoint_id} != $Fe->{id} || $_->{status} ne 'failed' } @$both), 'both filters hold');
$r = call(GET => '/webhooks/deliveries?limit=1', $adm);
is(scalar @{ items($r) }, 1, 'limit=1');
$cursor = ($r->{json} || {})->{next_cursor};
ok(defined $cursor && length $cursor, 'next_cursor');
$first = (items($r)->[0] || {})->{id} // 0;
$r = call(GET => '/webhooks/deliveries?limit=1&cursor=' . ($cursor // ''), $adm);
cmp_ok((items($r)->[0] || {})->{id} // 1e9, '<', $first, 'the next page is older');
problem(call(GET => '/webhooks/deliveries?status=lost', $adm), 400, 'malformed', 'status=lost');
problem(call(GET => '/webhooks/deliveries?endpoint_id=abc', $adm), 400, 'malformed', 'endpoint_id=abc');
problem(call(GET => '/webhooks/deliveries/999999', $adm), 404, 'not-found', 'unknown delivery');
problem(call(POST => '/webhooks/deliveries/999999/replay', $adm), 404, 'not-found', 'replay of an unknown delivery');

# --- replay ---------------------------------------------------------------------------------------------------------------------
for my $case (
    [{ since => 'yesterday' },               ['#/since'],    'since not a time'],
    [{ since => '2026-13-01T00:00:00Z' },    ['#/since'],    'since: month 13'],
    [{ since => 5 },                          ['#/since'],    'since a number'],
    [{ event_id => 5 },                       ['#/event_id'], 'event_id a number'],
    [{ since => iso(time - 60), colour => 1 }, ['#/colour'],   'an unknown field'],
) {
    invalid(call(POST => "/webhooks/endpoints/$Fe->{id}/replay", $adm, $case->[0]), 422, 'validation', $case->[1], "replay refused: $case->[2]");
}
problem(call(POST => "/webhooks/endpoints/$Fe->{id}/replay", $adm, {}), 422, 'validation', 'replay with neither since nor event_id');
problem(call(POST => '/webhooks/endpoints/999999/replay', $adm, { since => iso(time - 60) }), 404, 'not-found', 'replay on an unknown endpoint');
is(delivery_get($fx->{id})->{attempt_count}, 3, 'refused replays send nothing');

$r = call(POST => "/webhooks/endpoints/$Fe->{id}/replay", $adm, { since => iso(time + 3600) });
is($r->{status}, 202, 'replay since the future 202') or diag($r->{content});
is(($r->{json} || {})->{replayed}, 0, 'nothing to replay');
$audit0 = audit_count();
$r = call(POST => "/webhooks/endpoints/$Fe->{id}/replay", $adm, { since => iso(time - 3600) });
is($r->{status}, 202, 'replay since an hour ago 202') or diag($r->{content});
is(($r->{json} || {})->{replayed}, 4, "replayed: F's four failed deliveries");
cmp_ok(audit_count(), '>', $audit0, 'a replay is audited');
my $fr = poll(sub { my $d = delivery_get($fx->{id}); @{ $d->{attempts} || [] } >= 4 ? $d : undef }, 10) || {};
is(scalar @{ $fr->{attempts} || [] }, 4, 'the replay made one more attempt');
ok(($fr->{attempts}[-1] || {})->{replay}, 'marked as a replay');

my $nu = grep { $_ eq $eu } received('/d');
$r = call(POST => "/webhooks/endpoints/$D->{id}/replay", $adm, { event_id => $eu });
is($r->{status}, 202, 'replay one event 202') or diag($r->{content});
is(($r->{json} || {})->{replayed}, 1, 'replayed 1');
ok(poll(sub { (grep { $_ eq $eu } received('/d')) == $nu + 1 }, 10), 'the receiver gets the event again');

my $nx = grep { $_ eq $ex } received('/d');
$r = call(POST => "/webhooks/deliveries/$dx->{id}/replay", $adm);
is($r->{status}, 202, 'replay one delivery 202') or diag($r->{content});
ok(poll(sub { (grep { $_ eq $ex } received('/d')) == $nx + 1 }, 10), 'the receiver gets that delivery again');
my $dr = poll(sub { my $d = delivery_get($dx->{id}); @{ $d->{attempts} || [] } >= 2 ? $d : undef }, 10) || {};
ok(($dr->{attempts}[-1] || {})->{replay}, 'the delivery records the replay attempt');
is(($dr->{attempts}[-1] || {})->{response_status}, 200, 'answered 200');

# --- ping ---------------------------------------------------------------------------------------------------------------------------
$r = call(POST => "/webhooks/endpoints/$A->{id}/ping", $adm);
is($r->{status}, 202, 'ping 202') or diag($r->{content});
my $pd = ping_delivery($r->{json});
ok($pd, 'the answer names the delivery') or diag($r->{content});
my $pg = poll(sub { my $d = delivery_get($pd); ($d->{status} // '') eq 'succeeded' ? $d : undef }, 10) || {};
is($pg->{event_type}, 'webhook.ping', 'the ping is a delivery of webhook.ping');
is($pg->{endpoint_id}, $A->{id}, 'to that endpoint');
problem(call(POST => '/webhooks/endpoints/999999/ping', $adm), 404, 'not-found', 'ping an unknown endpoint');

# --- roles -------------------------------------------------------------------------------------------------------------------------
my $Aid = $A->{id};
my @routes = (
    [GET    => '/webhooks/endpoints'],
    [POST   => '/webhooks/endpoints', { url => $OK }],
    [GET    => "/webhooks/endpoints/$Aid"],
    [PATCH  => "/webhooks/endpoints/$Aid", { description => 'x' }],
    [DELETE => "/webhooks/endpoints/$Aid"],
    [POST   => "/webhooks/endpoints/$Aid/rotate-secret", { grace_seconds => 60 }],
    [POST   => "/webhooks/endpoints/$Aid/ping"],
    [POST   => "/webhooks/endpoints/$Aid/replay", { since => iso(time - 3600) }],
    [GET    => '/webhooks/deliveries'],
    [GET    => "/webhooks/deliveries/$dx->{id}"],
    [POST   => "/webhooks/deliveries/$dx->{id}/replay"],
    [GET    => '/webhooks/event-types'],
);
my $before = $J->encode([endpoint_get($Aid), scalar($rcv->requests), audit_count(), scalar @{ endpoint_ids('') }]);
for my $who (['ae', $ae], ['manager', $mgr], ['integration', $in]) {
    for my $rt (@routes) {
        problem(call($rt->[0], $rt->[1], $who->[1], $rt->[2]), 403, 'forbidden', "$who->[0] $rt->[0] $rt->[1]");
    }
}
for my $rt (@routes) {
    problem(call($rt->[0], $rt->[1], undef, $rt->[2]), 401, 'unauthorized', "no token: $rt->[0] $rt->[1]");
}
sleep 0.3;
is($J->encode([endpoint_get($Aid), scalar($rcv->requests), audit_count(), scalar @{ endpoint_ids('') }]), $before,
   'refused calls change nothing, send nothing');

# --- delete with its deliveries -----------------------------------------------------------------------------------------------------
$r = call(DELETE => "/webhooks/endpoints/$D->{id}", $adm);
is($r->{status}, 204, 'DELETE D 204') or diag($r->{content});
problem(call(GET => "/webhooks/endpoints/$D->{id}", $adm), 404, 'not-found', 'D is gone');
problem(call(GET => "/webhooks/deliveries/$dx->{id}", $adm), 404, 'not-found', "D's deliveries are gone");
$r = call(GET => "/webhooks/deliveries?endpoint_id=$D->{id}", $adm);
ok($r->{status} == 404 || ($r->{status} == 200 && !@{ items($r) }), 'no deliveries listed for D') or diag($r->{content});
ok(!grep({ $_ == $D->{id} } @{ endpoint_ids('') }), 'not listed');

for my $e ($A, $B, $C, $Fe) {
    call(DELETE => "/webhooks/endpoints/$e->{id}", $adm);
}
$rcv->stop;
$t->stop;
done_testing;
