use strict;
use warnings;
use Test::More;
use lib 't/lib';
use SalesTest;

my $t   = SalesTest->new;
my $adm = $t->{admin};
my $mgr = $t->user('manager');
my $ae  = $t->user('ae', manager_id => $mgr->{id});
my $ae2 = $t->user('ae');
my $in  = $t->user('integration');
my $ISO = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

sub ids { [map { $_->{id} } @{ $_[0]{json}{items} || [] }] }
sub at  { { 'X-Sales-Test-Now' => $_[0] } }
sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        'select count(*) from loyalty_levels',
        'select coalesce(sum(version),0) from loyalty_levels',
        'select coalesce(sum(version),0) from clients',
        q{select group_concat(coalesce(loyalty_level_id,'-') || '/' || coalesce(loyalty_since,'-')) from (select * from clients order by id)},
        'select count(*) from audit_log';
}
sub loyalty {
    my ($cid, $tok) = @_;
    my $r = $t->api(GET => "/clients/$cid/loyalty", $tok);
    is($r->{status}, 200, "GET /clients/$cid/loyalty 200") or diag($r->{content});
    return $r->{json} || {};
}

unlike(snapshot(), qr/ERR/, 'loyalty_levels and clients.loyalty_* are readable');

# --- levels: create / get / list / patch ------------------------------------------------
my $audit0 = $t->sql('select count(*) from audit_log');
my $r = $t->api(POST => '/loyalty/levels', $mgr->{token}, { name => 'Gold', threshold_minor => 10000000, discount_bp => 500 });
is($r->{status}, 201, 'manager POST level 201') or diag($r->{content});
my $gold = $r->{json} || {};
like($gold->{id} // '', qr/^\d+$/, 'level id');
like($r->{headers}{location} // '', qr{/loyalty/levels/\Q$gold->{id}\E$}, 'Location');
is_deeply([@$gold{qw(name threshold_minor currency discount_bp version)}], ['Gold', 10000000, 'RON', 500, 1],
          'fields; currency defaults to RON');
like($gold->{created_at} // '', $ISO, 'created_at');
is($t->sql('select count(*) from audit_log'), $audit0 + 1, 'audit row for the level');
is($t->sql("select threshold_minor || '|' || discount_bp from loyalty_levels where id = $gold->{id}"), '10000000|500',
   'level row in the db');

$r = $t->api(POST => '/loyalty/levels', $adm, { name => 'Silver', threshold_minor => 5000000, discount_bp => 200,
                                                 currency => 'RON' });
is($r->{status}, 201, 'admin POST level 201') or diag($r->{content});
my $silver = $r->{json} || {};
$r = $t->api(POST => '/loyalty/levels', $mgr->{token}, { name => 'Platinum', threshold_minor => 50000000, discount_bp => 1000 });
is($r->{status}, 201, 'Platinum 201');
my $plat = $r->{json} || {};

for my $who ([ae => $ae->{token}], [integration => $in->{token}], [manager => $mgr->{token}]) {
    $r = $t->api(GET => '/loyalty/levels', $who->[1]);
    is($r->{status}, 200, "$who->[0] lists levels");
    is_deeply(ids($r), [$gold->{id}, $silver->{id}, $plat->{id}], "$who->[0]: levels by id");
    $r = $t->api(GET => "/loyalty/levels/$gold->{id}", $who->[1]);
    is($r->{status}, 200, "$who->[0] GET level");
    is_deeply($r->{json}, $gold, "$who->[0] reads Gold");
}
problem($t->api(GET => '/loyalty/levels/999999', $ae->{token}), 404, 'not-found', 'unknown level');

$r = $t->api(PATCH => "/loyalty/levels/$gold->{id}", $mgr->{token}, { discount_bp => 700 });
is($r->{status}, 200, 'PATCH discount 200') or diag($r->{content});
is($r->{json}{discount_bp}, 700, 'discount changed');
is($r->{json}{version}, 2, 'version 2');
for my $bp (10000, 0, 500) {
    $r = $t->api(PATCH => "/loyalty/levels/$gold->{id}", $mgr->{token}, { discount_bp => $bp });
    is($r->{status}, 200, "discount_bp $bp accepted") or diag($r->{content});
    is($r->{json}{discount_bp}, $bp, "discount_bp $bp stored");
}
$gold = $r->{json};

# --- validation -----------------------------------------------------------------------------
my $snap = snapshot();
my %ok = (name => 'Bronze', threshold_minor => 1000000, discount_bp => 100);
for my $case (
    [{ %ok, discount_bp => 10001 },                                       '#/discount_bp'],
    [{ %ok, discount_bp => -1 },                                          '#/discount_bp'],
    [{ %ok, discount_bp => 2.5 },                                         '#/discount_bp'],
    [{ %ok, discount_bp => '500' },                                       '#/discount_bp'],
    [{ %ok, name => '' },                                                 '#/name'],
    [{ %ok, name => undef },                                              '#/name'],
    [{ map { $_ => $ok{$_} } grep { $_ ne 'name' } keys %ok },            '#/name'],
    [{ %ok, threshold_minor => -1 },                                      '#/threshold_minor'],
    [{ %ok, threshold_minor => 1.5 },                                     '#/threshold_minor'],
    [{ %ok, threshold_minor => '1000' },                                  '#/threshold_minor'],
    [{ %ok, currency => 'LEI1' },                                         '#/currency'],
    [{ %ok, colour => 'bronze' },                                         '#/colour'],
) {
    my $r = $t->api(POST => '/loyalty/levels', $mgr->{token}, $case->[0]);
    invalid($r, 422, 'validation', [$case->[1]], "level invalid $case->[1] " . $SalesTest::JSON->encode($case->[0]));
}
problem($t->api(POST => '/loyalty/levels', $mgr->{token}, { %ok, name => 'Gold' }), 409, 'conflict', 'duplicate name 409');
problem($t->api(PATCH => "/loyalty/levels/$silver->{id}", $mgr->{token}, { name => 'Gold' }), 409, 'conflict',
        'rename onto a taken name 409');
invalid($t->api(PATCH => "/loyalty/levels/$silver->{id}", $mgr->{token}, { discount_bp => 10001 }), 422, 'validation',
        ['#/discount_bp'], 'PATCH discount_bp 10001');
invalid($t->api(PATCH => "/loyalty/levels/$silver->{id}", $mgr->{token}, { name => undef }), 422, 'validation',
        ['#/name'], 'PATCH name null');
problem($t->api(POST => '/loyalty/levels', $mgr->{token}, '{"name":'), 400, 'malformed', 'malformed level body');
problem($t->api(PATCH => '/loyalty/levels/999999', $mgr->{token}, { discount_bp => 1 }), 404, 'not-found',
        'PATCH unknown level');
is(snapshot(), $snap, 'nothing written by invalid level writes');

# --- AE and integration may not write levels ------------------------------------------------
for my $who ([ae => $ae->{token}], [integration => $in->{token}]) {
    problem($t->api(POST => '/loyalty/levels', $who->[1], { %ok, name => "By $who->[0]" }), 403, 'forbidden',
            "$who->[0] POST level");
    problem($t->api(PATCH => "/loyalty/levels/$gold->{id}", $who->[1], { discount_bp => 9999 }), 403, 'forbidden',
            "$who->[0] PATCH level");
}
is(snapshot(), $snap, 'nothing written by forbidden level writes');

# --- a client's level ---------------------------------------------------------------------------
my $c  = $t->api(POST => '/clients', $ae->{token}, { name => 'Fidel SRL' })->{json} || {};
my $c2 = $t->api(POST => '/clients', $ae2->{token}, { name => 'Alt AE SRL' })->{json} || {};
ok($c->{id} && $c2->{id}, 'two clients');

my $l = loyalty($c->{id}, $ae->{token});
is($l->{client_id}, $c->{id}, 'client_id');
ok(exists $l->{level} && !defined $l->{level}, 'no level yet');
ok(exists $l->{since} && !defined $l->{since}, 'no since yet');
is($l->{paid_revenue_12m_minor}, 0, 'paid revenue 0 (no invoices)');
is($l->{next}{level}{id}, $silver->{id}, 'next level: Silver (lowest threshold)');
is($l->{next}{missing_minor}, 5000000, 'missing 5000000 = 5000000 - 0');

$audit0 = $t->sql('select count(*) from audit_log');
$r = $t->api(PUT => "/clients/$c->{id}/loyalty", $mgr->{token}, { level_id => $silver->{id} }, at('2026-03-15T10:00:00Z'));
is($r->{status}, 200, 'manager PUT loyalty 200') or diag($r->{content});
is($t->sql("select loyalty_level_id || '/' || (loyalty_since is not null) from clients where id = $c->{id}"),
   "$silver->{id}/1", 'level and since in the db');
is($t->sql('select count(*) from audit_log'), $audit0 + 1, 'audit row for the PUT');

$l = loyalty($c->{id}, $ae->{token});
is_deeply([grep { !exists $l->{$_} } qw(client_id level since paid_revenue_12m_minor next)], [], 'every documented key answered');
is($l->{client_id}, $c->{id}, 'client_id');
is($l->{level}{id}, $silver->{id}, 'level Silver');
is($l->{level}{name}, 'Silver', 'level name');
is($l->{level}{discount_bp}, 200, 'level discount');
is($l->{level}{threshold_minor}, 5000000, 'level threshold');
is($l->{since}, '2026-03-15T10:00:00Z', 'since is the test clock time');
is($l->{paid_revenue_12m_minor}, 0, 'paid revenue 0');
is($l->{next}{level}{id}, $gold->{id}, 'next: Gold');
is($l->{next}{level}{name}, 'Gold', 'next name');
is($l->{next}{missing_minor}, 10000000, 'missing 10000000 = 10000000 - 0');
$r = $t->api(GET => "/clients/$c->{id}", $ae->{token});
is($r->{json}{loyalty_level_id}, $silver->{id}, 'client loyalty_level_id');
is($r->{json}{loyalty_since}, '2026-03-15T10:00:00Z', 'client loyalty_since');

$r = $t->api(PUT => "/clients/$c->{id}/loyalty", $adm, { level_id => $gold->{id} }, at('2026-04-01T08:30:00Z'));
is($r->{status}, 200, 'admin PUT Gold 200') or diag($r->{content});
$l = loyalty($c->{id}, $in->{token});
is($l->{level}{id}, $gold->{id}, 'level Gold');
is($l->{since}, '2026-04-01T08:30:00Z', 'since moves with the change');
is($l->{next}{level}{id}, $plat->{id}, 'next: Platinum');
is($l->{next}{missing_minor}, 50000000, 'missing 50000000 = 50000000 - 0');

$r = $t->api(PUT => "/clients/$c->{id}/loyalty", $mgr->{token}, { level_id => $plat->{id} }, at('2026-05-01T00:00:00Z'));
is($r->{status}, 200, 'PUT Platinum 200');
$l = loyalty($c->{id}, $mgr->{token});
is($l->{level}{id}, $plat->{id}, 'level Platinum');
ok(exists $l->{next} && !defined $l->{next}, 'top level: next null');

# --- who may set it ---------------------------------------------------------------------------------
$snap = snapshot();
problem($t->api(PUT => "/clients/$c->{id}/loyalty", $ae->{token}, { level_id => $silver->{id} }), 403, 'forbidden',
        'AE PUT loyalty on own client 403');
problem($t->api(PUT => "/clients/$c->{id}/loyalty", $ae->{token}, { level_id => undef }), 403, 'forbidden',
        'AE clears loyalty 403');
problem($t->api(PUT => "/clients/$c->{id}/loyalty", $in->{token}, { level_id => $silver->{id} }), 403, 'forbidden',
        'integration PUT loyalty 403');
problem($t->api(PUT => "/clients/$c2->{id}/loyalty", $mgr->{token}, { level_id => $silver->{id} }), 404, 'not-found',
        'manager PUT on a client outside the team 404');
problem($t->api(GET => "/clients/$c2->{id}/loyalty", $ae->{token}), 404, 'not-found', "another AE's client 404");
problem($t->api(GET => '/clients/999999/loyalty', $adm), 404, 'not-found', 'unknown client 404');
problem($t->api(PUT => '/clients/999999/loyalty', $adm, { level_id => $silver->{id} }), 404, 'not-found',
        'PUT unknown client 404');
invalid($t->api(PUT => "/clients/$c->{id}/loyalty", $mgr->{token}, { level_id => 999999 }), 422, 'validation',
        ['#/level_id'], 'unknown level 422');
invalid($t->api(PUT => "/clients/$c->{id}/loyalty", $mgr->{token}, {}), 422, 'validation', ['#/level_id'],
        'PUT without level_id 422');
invalid($t->api(PUT => "/clients/$c->{id}/loyalty", $mgr->{token}, { level_id => 'Gold' }), 422, 'validation',
        ['#/level_id'], 'level_id not an integer 422');
invalid($t->api(PUT => "/clients/$c->{id}/loyalty", $mgr->{token}, { level_id => $silver->{id}, since => '2020-01-01' }),
        422, 'validation', ['#/since'], 'unknown field 422');
problem($t->api(PUT => "/clients/$c->{id}/loyalty", $mgr->{token}, '{"level_id":'), 400, 'malformed', 'malformed PUT');
is(snapshot(), $snap, 'nothing written by refused loyalty changes');
is(loyalty($c->{id}, $ae->{token})->{level}{id}, $plat->{id}, 'still Platinum');
is(loyalty($c2->{id}, $ae2->{token})->{level}, undef, "the other AE's client still has no level");

# --- clearing -------------------------------------------------------------------------------------
$r = $t->api(PUT => "/clients/$c->{id}/loyalty", $mgr->{token}, { level_id => undef }, at('2026-06-01T00:00:00Z'));
is($r->{status}, 200, 'PUT level null 200') or diag($r->{content});
$l = loyalty($c->{id}, $ae->{token});
ok(exists $l->{level} && !defined $l->{level}, 'level cleared');
ok(exists $l->{since} && !defined $l->{since}, 'since cleared');
is($l->{next}{level}{id}, $silver->{id}, 'next: Silver again');
is($l->{next}{missing_minor}, 5000000, 'missing 5000000');
is($t->sql("select coalesce(loyalty_level_id,'null') from clients where id = $c->{id}"), 'null', 'null in the db');
$r = $t->api(GET => "/clients/$c->{id}", $ae->{token});
ok(exists $r->{json}{loyalty_level_id} && !defined $r->{json}{loyalty_level_id}, 'client loyalty_level_id null');

# The level's discount follows PATCHes of the level.
is($t->api(PUT => "/clients/$c->{id}/loyalty", $mgr->{token}, { level_id => $silver->{id} })->{status}, 200, 'Silver again');
is($t->api(PATCH => "/loyalty/levels/$silver->{id}", $mgr->{token}, { discount_bp => 300 })->{status}, 200, 'Silver 300 bp');
is(loyalty($c->{id}, $ae->{token})->{level}{discount_bp}, 300, 'GET loyalty shows the new discount');

$t->stop;
done_testing;
