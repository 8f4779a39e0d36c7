use strict;
use warnings;
use Test::More;
use lib 't/lib';
use SalesTest;

my $t   = SalesTest->new;
my $adm = $t->{admin};

my $m1 = $t->user('manager');
my $m2 = $t->user('manager');
my $a1 = $t->user('ae', manager_id => $m1->{id});
my $a2 = $t->user('ae', manager_id => $m1->{id});
my $b1 = $t->user('ae', manager_id => $m2->{id});
my $in = $t->user('integration');

sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        'select count(*) from clients',
        'select coalesce(sum(version),0) from clients',
        'select count(*) from contacts',
        'select count(*) from audit_log',
        $SalesTest::OUTBOX_COUNT;
}
sub ids { [sort { $a <=> $b } map { $_->{id} } @{ $_[0]{json}{items} || [] }] }
sub sorted { [sort { $a <=> $b } @_] }
sub mk {
    my ($who, $name, %f) = @_;
    my $r = $t->api(POST => '/clients', $who->{token}, { name => $name, %f });
    is($r->{status}, 201, "create $name") or diag($r->{content});
    return $r->{json};
}

unlike(snapshot(), qr/ERR/, 'tables readable');

my $ca1 = mk($a1, 'A1 Client');
my $ca2 = mk($a2, 'A2 Client');
my $cb1 = mk($b1, 'B1 Client');
my $cm1 = mk($m1, 'M1 Client');
my $cm2 = mk($m2, 'M2 Client');
my $kb1 = $t->api(POST => "/clients/$cb1->{id}/contacts", $b1->{token}, { name => 'B1 Contact' })->{json};
ok($kb1->{id}, 'contact on B1 client');
my $all = sorted(map { $_->{id} } $ca1, $ca2, $cb1, $cm1, $cm2);

# --- AE A1 never sees B1's (or A2's) client ------------------------------------
my $snap = snapshot();
for my $other ([B1 => $cb1], [A2 => $ca2], [M1 => $cm1]) {
    my ($n, $c) = @$other;
    problem($t->api(GET => "/clients/$c->{id}", $a1->{token}), 404, 'not-found', "A1 GET $n client");
    problem($t->api(PATCH => "/clients/$c->{id}", $a1->{token}, { notes => 'x' }), 404, 'not-found', "A1 PATCH $n client");
    problem($t->api(POST => "/clients/$c->{id}/archive", $a1->{token}), 404, 'not-found', "A1 archive $n client");
    problem($t->api(POST => "/clients/$c->{id}/unarchive", $a1->{token}), 404, 'not-found', "A1 unarchive $n client");
    problem($t->api(GET => "/clients/$c->{id}/contacts", $a1->{token}), 404, 'not-found', "A1 list $n contacts");
    problem($t->api(POST => "/clients/$c->{id}/contacts", $a1->{token}, { name => 'Spy' }), 404, 'not-found',
            "A1 create $n contact");
}
problem($t->api(GET => "/clients/$cb1->{id}/contacts/$kb1->{id}", $a1->{token}), 404, 'not-found', 'A1 GET B1 contact');
is(snapshot(), $snap, 'nothing written by A1 on others\' clients');

is_deeply(ids($t->api(GET => '/clients?limit=200', $a1->{token})), [$ca1->{id}], 'A1 lists only own');
is_deeply(ids($t->api(GET => '/clients?archived=all&limit=200', $a1->{token})), [$ca1->{id}], 'A1 archived=all only own');
{
    my $r = $t->api(GET => "/clients?owner=$b1->{id}", $a1->{token});
    ok($r->{status} == 200 || $r->{status} == 403 || $r->{status} == 404, 'A1 owner=<B1> answered')
        or diag($r->{content});
    is_deeply($r->{status} == 200 ? ids($r) : [], [], 'A1 owner=<B1> shows nothing of B1');
    $r = $t->api(GET => "/clients?q=B1", $a1->{token});
    ok(!grep({ $_ == $cb1->{id} } @{ ids($r) }), 'A1 q=B1 shows nothing of B1');
}

# --- managers -----------------------------------------------------------------
is_deeply(ids($t->api(GET => '/clients?limit=200', $m1->{token})), sorted($ca1->{id}, $ca2->{id}, $cm1->{id}),
          'M1 sees own and team clients');
is_deeply(ids($t->api(GET => '/clients?owner=team&limit=200', $m1->{token})),
          sorted($ca1->{id}, $ca2->{id}, $cm1->{id}), 'M1 owner=team');
is_deeply(ids($t->api(GET => '/clients?owner=me&limit=200', $m1->{token})), [$cm1->{id}], 'M1 owner=me');
is_deeply(ids($t->api(GET => "/clients?owner=$a1->{id}", $m1->{token})), [$ca1->{id}], 'M1 owner=<A1>');
is_deeply(ids($t->api(GET => '/clients?limit=200', $m2->{token})), sorted($cb1->{id}, $cm2->{id}), 'M2 sees own team only');
$snap = snapshot();
problem($t->api(GET => "/clients/$cb1->{id}", $m1->{token}), 404, 'not-found', 'M1 GET B1 client');
problem($t->api(PATCH => "/clients/$cb1->{id}", $m1->{token}, { notes => 'x' }), 404, 'not-found', 'M1 PATCH B1 client');
problem($t->api(GET => "/clients/$cm2->{id}", $m1->{token}), 404, 'not-found', 'M1 GET M2 client');
problem($t->api(POST => "/clients/$cb1->{id}/contacts", $m1->{token}, { name => 'Spy' }), 404, 'not-found',
        'M1 create B1 contact');
is(snapshot(), $snap, 'nothing written by M1 on the other team');
my $r = $t->api(PATCH => "/clients/$ca1->{id}", $m1->{token}, { notes => 'from manager' });
is($r->{status}, 200, 'M1 PATCH team client');
is($r->{json}{notes}, 'from manager', 'manager change stored');
is($t->api(POST => "/clients/$ca1->{id}/contacts", $m1->{token}, { name => 'Via Manager' })->{status}, 201,
   'M1 creates a contact on a team client');

# --- integration reads everything, writes nothing -----------------------------------
is_deeply(ids($t->api(GET => '/clients?limit=200', $in->{token})), $all, 'integration lists all clients');
is($t->api(GET => "/clients/$cb1->{id}", $in->{token})->{status}, 200, 'integration GET any client');
is($t->api(GET => "/clients/$cb1->{id}/contacts/$kb1->{id}", $in->{token})->{status}, 200, 'integration GET any contact');
$snap = snapshot();
problem($t->api(POST => '/clients', $in->{token}, { name => 'Integration SRL' }), 403, 'forbidden', 'integration POST client');
problem($t->api(PATCH => "/clients/$cb1->{id}", $in->{token}, { notes => 'x' }), 403, 'forbidden', 'integration PATCH');
problem($t->api(POST => "/clients/$cb1->{id}/archive", $in->{token}), 403, 'forbidden', 'integration archive');
problem($t->api(POST => "/clients/$cb1->{id}/contacts", $in->{token}, { name => 'X' }), 403, 'forbidden',
        'integration POST contact');
problem($t->api(PATCH => "/clients/$cb1->{id}/contacts/$kb1->{id}", $in->{token}, { name => 'X' }), 403, 'forbidden',
        'integration PATCH contact');
problem($t->api(DELETE => "/clients/$cb1->{id}/contacts/$kb1->{id}", $in->{token}), 403, 'forbidden',
        'integration DELETE contact');
is(snapshot(), $snap, 'nothing written by integration');

# --- owner_id rules ---------------------------------------------------------------------
sub refused {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    ok($r->{status} == 422 || $r->{status} == 403, "$name: 422 or 403") or diag("$r->{status} $r->{content}");
    is_deeply(pointers($r), ['#/owner_id'], "$name: pointer #/owner_id") if $r->{status} == 422;
}
$snap = snapshot();
refused($t->api(POST => '/clients', $a1->{token}, { name => 'Gift', owner_id => $a2->{id} }), 'A1 creates for A2');
refused($t->api(POST => '/clients', $a1->{token}, { name => 'Gift', owner_id => $b1->{id} }), 'A1 creates for B1');
refused($t->api(PATCH => "/clients/$ca1->{id}", $a1->{token}, { owner_id => $a2->{id} }), 'A1 hands own client to A2');
refused($t->api(POST => '/clients', $m1->{token}, { name => 'Gift', owner_id => $b1->{id} }), 'M1 creates for B1');
refused($t->api(PATCH => "/clients/$ca1->{id}", $m1->{token}, { owner_id => $b1->{id} }), 'M1 hands team client to B1');
refused($t->api(POST => '/clients', $adm, { name => 'Gift', owner_id => $in->{id} }), 'admin names an integration user');
is(snapshot(), $snap, 'nothing written by refused owners');

$r = $t->api(POST => '/clients', $a1->{token}, { name => 'Self Named', owner_id => $a1->{id} });
is($r->{status}, 201, 'A1 names self as owner');
$r = $t->api(POST => '/clients', $m1->{token}, { name => 'For A2', owner_id => $a2->{id} });
is($r->{status}, 201, 'M1 creates for team member A2');
is($r->{json}{owner_id}, $a2->{id}, 'owner is A2');
my $fora2 = $r->{json};
ok((grep { $_ == $fora2->{id} } @{ ids($t->api(GET => '/clients?limit=200', $a2->{token})) }), 'A2 sees it');
$r = $t->api(PATCH => "/clients/$fora2->{id}", $m1->{token}, { owner_id => $a1->{id} });
is($r->{status}, 200, 'M1 moves a client within the team');
problem($t->api(GET => "/clients/$fora2->{id}", $a2->{token}), 404, 'not-found', 'A2 no longer sees the moved client');
is($t->api(GET => "/clients/$fora2->{id}", $a1->{token})->{status}, 200, 'A1 sees the moved client');
$r = $t->api(POST => '/clients', $adm, { name => 'Admin For B1', owner_id => $b1->{id} });
is($r->{status}, 201, 'admin creates for any AE');
$r = $t->api(POST => '/clients', $adm, { name => 'Admin For M2', owner_id => $m2->{id} });
is($r->{status}, 201, 'admin creates for any manager');

is($t->api(PATCH => "/users/$a2->{id}", $adm, { disabled => JSON::PP::true })->{status}, 200, 'disable A2');
$snap = snapshot();
refused($t->api(POST => '/clients', $adm, { name => 'For Disabled', owner_id => $a2->{id} }), 'admin names a disabled AE');
is(snapshot(), $snap, 'nothing written for a disabled owner');

# --- admin sees all ----------------------------------------------------------------
my $n = $t->sql('select count(*) from clients');
is(scalar @{ ids($t->api(GET => '/clients?archived=all&limit=200', $adm)) }, $n, 'admin lists every client');
is($t->api(GET => "/clients/$cb1->{id}", $adm)->{status}, 200, 'admin GET B1 client');
is($t->api(PATCH => "/clients/$cb1->{id}", $adm, { notes => 'admin' })->{status}, 200, 'admin PATCH B1 client');

# --- audit is admin only --------------------------------------------------------------
problem($t->api(GET => '/audit', $m1->{token}), 403, 'forbidden', 'manager GET /audit');
problem($t->api(GET => '/audit', $in->{token}), 403, 'forbidden', 'integration GET /audit');
is($t->api(GET => '/audit', $adm)->{status}, 200, 'admin GET /audit');

$t->stop;
done_testing;
