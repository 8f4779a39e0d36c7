use strict;
use warnings;
use Test::More;
use lib 't/lib';
use SalesTest;

my $t   = SalesTest->new;
my $adm = $t->{admin};
my $a   = $t->user('ae');
my $b   = $t->user('ae');
my $ISO = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        'select count(*) from contacts',
        'select coalesce(sum(version),0) || \'/\' || coalesce(sum(is_primary),0) from contacts',
        'select count(*) from audit_log',
        'select count(*) from clients';
}
sub ids { [map { $_->{id} } @{ $_[0]{json}{items} || [] }] }
sub primaries {
    my ($cid, $tok) = @_;
    [map { $_->{id} } grep { $_->{is_primary} } @{ $t->api(GET => "/clients/$cid/contacts", $tok)->{json}{items} || [] }];
}

unlike(snapshot(), qr/ERR/, 'contacts and audit_log are readable');

my $ca = $t->api(POST => '/clients', $a->{token}, { name => 'Client A SRL' })->{json};
my $cb = $t->api(POST => '/clients', $b->{token}, { name => 'Client B SRL' })->{json};
ok($ca->{id} && $cb->{id}, 'two clients');

# --- create / get / list / patch / delete -------------------------------------
my $audit0 = $t->sql('select count(*) from audit_log');
my $r = $t->api(POST => "/clients/$ca->{id}/contacts", $a->{token},
                { name => 'Ion Ionescu', role => 'CFO', email => 'ion@exemplu.ro', phone => '+40 722 000 000' });
is($r->{status}, 201, 'POST contact 201');
my $k1 = $r->{json};
like($k1->{id} // '', qr/^\d+$/, 'contact id');
like($r->{headers}{location} // '', qr{/clients/$ca->{id}/contacts/$k1->{id}$}, 'Location');
is($k1->{name}, 'Ion Ionescu', 'name');
is($k1->{role}, 'CFO', 'role');
is($k1->{email}, 'ion@exemplu.ro', 'email');
ok(JSON::PP::is_bool($k1->{is_primary}) && !$k1->{is_primary}, 'is_primary defaults to false');
is($k1->{version}, 1, 'version 1');
like($k1->{created_at} // '', $ISO, 'created_at');
is($t->sql('select count(*) from audit_log'), $audit0 + 1, 'audit row for the contact write');

$r = $t->api(GET => "/clients/$ca->{id}/contacts/$k1->{id}", $a->{token});
is($r->{status}, 200, 'GET contact 200');
is_deeply($r->{json}, $k1, 'GET answers the created contact');

my $k2 = $t->api(POST => "/clients/$ca->{id}/contacts", $a->{token}, { name => 'Maria Pop' })->{json};
is_deeply(ids($t->api(GET => "/clients/$ca->{id}/contacts", $a->{token})), [$k1->{id}, $k2->{id}], 'list by id');

$r = $t->api(PATCH => "/clients/$ca->{id}/contacts/$k1->{id}", $a->{token}, { role => 'CEO', phone => undef });
is($r->{status}, 200, 'PATCH contact 200');
is($r->{json}{role}, 'CEO', 'role changed');
ok(exists $r->{json}{phone} && !defined $r->{json}{phone}, 'phone cleared by null');
is($r->{json}{version}, 2, 'version 2');
is($r->{json}{name}, 'Ion Ionescu', 'name kept');

# --- is_primary exclusivity ---------------------------------------------------------
is($t->api(PATCH => "/clients/$ca->{id}/contacts/$k1->{id}", $a->{token}, { is_primary => JSON::PP::true })->{status},
   200, 'k1 primary');
is_deeply(primaries($ca->{id}, $a->{token}), [$k1->{id}], 'one primary: k1');
$r = $t->api(POST => "/clients/$ca->{id}/contacts", $a->{token}, { name => 'Dan Primar', is_primary => JSON::PP::true });
is($r->{status}, 201, 'new primary contact 201');
my $k3 = $r->{json};
is_deeply(primaries($ca->{id}, $a->{token}), [$k3->{id}], 'creating a primary clears the others');
is($t->api(PATCH => "/clients/$ca->{id}/contacts/$k2->{id}", $a->{token}, { is_primary => JSON::PP::true })->{status},
   200, 'k2 primary');
is_deeply(primaries($ca->{id}, $a->{token}), [$k2->{id}], 'patching a primary clears the others');
is($t->sql("select count(*) from contacts where client_id=$ca->{id} and is_primary"), 1, 'one primary row in the db');
my $kb = $t->api(POST => "/clients/$cb->{id}/contacts", $b->{token}, { name => 'Other Primar', is_primary => JSON::PP::true })->{json};
is_deeply(primaries($ca->{id}, $a->{token}), [$k2->{id}], 'primary of another client does not interfere');
is_deeply(primaries($cb->{id}, $b->{token}), [$kb->{id}], 'other client has its own primary');

# --- validation --------------------------------------------------------------
my $snap = snapshot();
for my $case (
    [{ role => 'CFO' },                    '#/name'],
    [{ name => '' },                       '#/name'],
    [{ name => 'x' x 201 },                '#/name'],
    [{ name => 5 },                        '#/name'],
    [{ name => 'X', role => 'r' x 101 },   '#/role'],
    [{ name => 'X', email => 'nope' },     '#/email'],
    [{ name => 'X', phone => 'call me' },  '#/phone'],
    [{ name => 'X', is_primary => 'yes' }, '#/is_primary'],
    [{ name => 'X', is_primary => 1 },     '#/is_primary'],
    [{ name => 'X', client_id => $cb->{id} }, '#/client_id'],
    [{ name => 'X', shoe_size => 44 },     '#/shoe_size'],
) {
    my $r = $t->api(POST => "/clients/$ca->{id}/contacts", $a->{token}, $case->[0]);
    problem($r, 422, 'validation', "contact invalid $case->[1]");
    is_deeply(pointers($r), [$case->[1]], "pointer $case->[1]");
}
$r = $t->api(PATCH => "/clients/$ca->{id}/contacts/$k1->{id}", $a->{token}, { name => undef });
problem($r, 422, 'validation', 'PATCH contact name null');
is_deeply(pointers($r), ['#/name'], 'pointer #/name');
problem($t->api(POST => "/clients/$ca->{id}/contacts", $a->{token}, '{"name":'), 400, 'malformed', 'malformed contact');
problem($t->api(POST => '/clients/999999/contacts', $a->{token}, { name => 'X' }), 404, 'not-found', 'contact of unknown client');
problem($t->api(GET => "/clients/$ca->{id}/contacts/999999", $a->{token}), 404, 'not-found', 'unknown contact');
is(snapshot(), $snap, 'nothing written by invalid contact writes');

# --- another AE's client / wrong parent ------------------------------------------
$snap = snapshot();
problem($t->api(GET => "/clients/$cb->{id}/contacts", $a->{token}), 404, 'not-found', 'list contacts of B client');
problem($t->api(POST => "/clients/$cb->{id}/contacts", $a->{token}, { name => 'Spy' }), 404, 'not-found',
        'create contact on B client');
problem($t->api(GET => "/clients/$cb->{id}/contacts/$kb->{id}", $a->{token}), 404, 'not-found', 'GET B contact');
problem($t->api(PATCH => "/clients/$cb->{id}/contacts/$kb->{id}", $a->{token}, { name => 'Spy' }), 404, 'not-found',
        'PATCH B contact');
problem($t->api(DELETE => "/clients/$cb->{id}/contacts/$kb->{id}", $a->{token}), 404, 'not-found', 'DELETE B contact');
problem($t->api(GET => "/clients/$ca->{id}/contacts/$kb->{id}", $a->{token}), 404, 'not-found',
        'B contact through A client path');
problem($t->api(PATCH => "/clients/$ca->{id}/contacts/$kb->{id}", $a->{token}, { name => 'Spy' }), 404, 'not-found',
        'PATCH B contact through A client path');
problem($t->api(DELETE => "/clients/$ca->{id}/contacts/$kb->{id}", $a->{token}), 404, 'not-found',
        'DELETE B contact through A client path');
is(snapshot(), $snap, 'nothing written across owners');
is($t->api(GET => "/clients/$cb->{id}/contacts/$kb->{id}", $adm)->{status}, 200, 'admin reads B contact');

# --- archived client -------------------------------------------------------------
is($t->api(POST => "/clients/$ca->{id}/archive", $a->{token})->{status}, 200, 'archive client A');
$snap = snapshot();
problem($t->api(POST => "/clients/$ca->{id}/contacts", $a->{token}, { name => 'Late' }), 409, 'conflict',
        'create contact on archived client');
problem($t->api(PATCH => "/clients/$ca->{id}/contacts/$k1->{id}", $a->{token}, { role => 'X' }), 409, 'conflict',
        'PATCH contact of archived client');
problem($t->api(DELETE => "/clients/$ca->{id}/contacts/$k1->{id}", $a->{token}), 409, 'conflict',
        'DELETE contact of archived client');
is(snapshot(), $snap, 'nothing written on an archived client');
is($t->api(GET => "/clients/$ca->{id}/contacts", $a->{token})->{status}, 200, 'contacts of archived client readable');
is($t->api(POST => "/clients/$ca->{id}/unarchive", $a->{token})->{status}, 200, 'unarchive client A');

# --- delete ------------------------------------------------------------------
$audit0 = $t->sql('select count(*) from audit_log');
$r = $t->api(DELETE => "/clients/$ca->{id}/contacts/$k1->{id}", $a->{token});
is($r->{status}, 204, 'DELETE contact 204');
is($r->{content}, '', '204 has no body');
problem($t->api(GET => "/clients/$ca->{id}/contacts/$k1->{id}", $a->{token}), 404, 'not-found', 'deleted contact gone');
is_deeply(ids($t->api(GET => "/clients/$ca->{id}/contacts", $a->{token})), [$k2->{id}, $k3->{id}], 'list after delete');
is($t->sql('select count(*) from audit_log'), $audit0 + 1, 'audit row for the delete');
problem($t->api(DELETE => "/clients/$ca->{id}/contacts/$k1->{id}", $a->{token}), 404, 'not-found', 'delete twice');

$t->stop;
done_testing;
