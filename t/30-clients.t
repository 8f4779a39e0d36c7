use strict;
use warnings;
use utf8;
use Test::More;
use lib 't/lib';
use SalesTest;

my $t   = SalesTest->new;
my $adm = $t->{admin};
my $ae  = $t->user('ae');
my $tok = $ae->{token};
my $ISO = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

# Everything a write could touch; unchanged means nothing was written.
sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        'select count(*) from clients',
        'select coalesce(sum(version),0) from clients',
        $SalesTest::OUTBOX_COUNT,
        'select count(*) from audit_log';
}
sub outbox_count { $t->sql("select count(*) from outbox where type='$_[0]'") }

unlike(snapshot(), qr/ERR/, 'clients, outbox and audit_log are readable');

# --- create / get -----------------------------------------------------------
my %created0 = map { $_ => outbox_count($_) } qw(client.created client.updated client.archived client.unarchived);

my $r = $t->api(POST => '/clients', $tok, { name => 'Exemplu SRL', tax_id => 'RO18547290',
                                            city => 'Cluj-Napoca', email => 'office@exemplu.ro' });
is($r->{status}, 201, 'POST /clients 201');
like($r->{headers}{'content-type'} // '', qr{^application/json}, 'answer is JSON');
my $c = $r->{json};
like($c->{id} // '', qr/^\d+$/, 'id is an integer');
like($r->{headers}{location} // '', qr{/clients/$c->{id}$}, 'Location points at the client');
is($c->{name}, 'Exemplu SRL', 'name');
is($c->{tax_id}, 'RO18547290', 'tax_id');
ok(JSON::PP::is_bool($c->{vat_payer}) && $c->{vat_payer}, 'vat_payer true with RO prefix');
is($c->{city}, 'Cluj-Napoca', 'city');
is($c->{email}, 'office@exemplu.ro', 'email');
is($c->{country}, 'RO', 'country defaults to RO');
is($c->{currency}, 'RON', 'currency defaults to RON');
is($c->{payment_terms_days}, 30, 'payment_terms_days defaults to 30');
is($c->{owner_id}, $ae->{id}, 'owner defaults to the caller');
ok(exists $c->{archived_at} && !defined $c->{archived_at}, 'archived_at null');
is($c->{version}, 1, 'version 1');
like($c->{created_at} // '', $ISO, 'created_at ISO');
is($c->{updated_at}, $c->{created_at}, 'updated_at = created_at');
is(outbox_count('client.created'), $created0{'client.created'} + 1, 'outbox has client.created');

$r = $t->api(GET => "/clients/$c->{id}", $tok);
is($r->{status}, 200, 'GET client 200');
is_deeply($r->{json}, $c, 'GET answers the created client');

# All fields, normalisation and boundaries.
$r = $t->api(POST => '/clients', $tok, {
    name => 'ă' x 200, tax_id => ' ro 1439 9840 ', trade_register_no => 'J40/1234/2020',
    address => 'a' x 200, city => 'c' x 200, county => 'RO-B', postal_code => '1' x 16,
    country => 'RO', currency => 'EUR', iban => 'RO49 AAAA 1B31 0075 9384 0000',
    email => 'ion.pop@mail.exemplu.ro', phone => '+40 (264) 000-000/1.', payment_terms_days => 365,
    external_id => 'x' x 128, notes => 'n' x 10000, owner_id => $ae->{id},
});
is($r->{status}, 201, 'POST with every field 201') or diag($r->{content});
my $full = $r->{json} || {};
is($full->{name}, 'ă' x 200, '200 non-ASCII characters accepted as name');
is($full->{tax_id}, 'RO14399840', 'tax_id stored without spaces, upper-case');
is($full->{iban}, 'RO49AAAA1B31007593840000', 'iban stored without spaces');
is($full->{trade_register_no}, 'J40/1234/2020', 'trade_register_no');
is($full->{currency}, 'EUR', 'currency');
is($full->{payment_terms_days}, 365, 'payment_terms_days 365');
is(length($full->{notes} // ''), 10000, 'notes 10000');

$r = $t->api(POST => '/clients', $tok, { name => 'No VAT SRL', tax_id => SalesTest::cui(1234567), payment_terms_days => 0 });
is($r->{status}, 201, 'tax_id without RO 201');
ok(JSON::PP::is_bool($r->{json}{vat_payer}) && !$r->{json}{vat_payer}, 'vat_payer false without RO');
is($r->{json}{payment_terms_days}, 0, 'payment_terms_days 0');
my $novat = $r->{json};

$r = $t->api(POST => '/clients', $tok, { name => 'Cu Charset SRL' },
             { 'Content-Type' => 'application/json; charset=utf-8' });
is($r->{status}, 201, 'application/json; charset=utf-8 accepted');

# --- validation -------------------------------------------------------------
my $snap = snapshot();
for my $case (
    [{ name => 'X', tax_id => '18547291' },                    '#/tax_id'],
    [{ name => 'X', tax_id => 'RO18547291' },                  '#/tax_id'],
    [{ name => 'X', tax_id => '1' },                           '#/tax_id'],
    [{ name => 'X', tax_id => '12345678901' },                 '#/tax_id'],
    [{ name => 'X', tax_id => 'RO1854A290' },                  '#/tax_id'],
    [{ name => 'X', tax_id => 1854729 },                       '#/tax_id'],
    [{ name => 'X', iban => 'RO49AAAA1B31007593840001' },      '#/iban'],
    [{ name => 'X', email => 'office.exemplu.ro' },            '#/email'],
    [{ name => 'X', email => 'a@b@exemplu.ro' },               '#/email'],
    [{ name => 'X', email => 'office@localhost' },             '#/email'],
    [{ name => 'X', color => 'red' },                          '#/color'],
    [{ name => 123 },                                          '#/name'],
    [{ name => undef },                                        '#/name'],
    [{ name => '' },                                           '#/name'],
    [{ name => 'x' x 201 },                                    '#/name'],
    [{ name => 'ă' x 201 },                                    '#/name'],
    [{ city => 'Cluj' },                                       '#/name'],
    [{ name => 'X', payment_terms_days => 366 },               '#/payment_terms_days'],
    [{ name => 'X', payment_terms_days => -1 },                '#/payment_terms_days'],
    [{ name => 'X', payment_terms_days => 1.5 },               '#/payment_terms_days'],
    [{ name => 'X', payment_terms_days => '30' },              '#/payment_terms_days'],
    [{ name => 'X', currency => 'XYZ' },                       '#/currency'],
    [{ name => 'X', currency => 'ron' },                       '#/currency'],
    [{ name => 'X', country => 'ROU' },                        '#/country'],
    [{ name => 'X', country => 'R1' },                         '#/country'],
    [{ name => 'X', phone => 'call me' },                      '#/phone'],
    [{ name => 'X', phone => '12' },                           '#/phone'],
    [{ name => 'X', trade_register_no => 'J40_1234' },         '#/trade_register_no'],
    [{ name => 'X', trade_register_no => 'J' x 33 },           '#/trade_register_no'],
    [{ name => 'X', address => 'a' x 201 },                    '#/address'],
    [{ name => 'X', city => 'c' x 201 },                       '#/city'],
    [{ name => 'X', county => 'c' x 65 },                      '#/county'],
    [{ name => 'X', postal_code => '1' x 17 },                 '#/postal_code'],
    [{ name => 'X', external_id => 'e' x 129 },                '#/external_id'],
    [{ name => 'X', notes => 'n' x 10001 },                    '#/notes'],
    [{ name => 'X', notes => ['a'] },                          '#/notes'],
    [{ name => 'X', owner_id => 999999 },                      '#/owner_id'],
    [{ name => 'X', owner_id => 'me' },                        '#/owner_id'],
    [{ name => 'X', id => 77 },                                '#/id'],
    [{ name => 'X', vat_payer => JSON::PP::true },             '#/vat_payer'],
    [{ name => 'X', archived_at => '2026-01-01T00:00:00Z' },   '#/archived_at'],
) {
    my ($body, $ptr) = @$case;
    my $r = $t->api(POST => '/clients', $tok, $body);
    problem($r, 422, 'validation', "invalid $ptr " . substr($SalesTest::JSON->encode($body), 0, 60));
    is_deeply(pointers($r), [$ptr], "errors[] names exactly $ptr");
}
$r = $t->api(POST => '/clients', $tok, { name => 'X', tax_id => '18547291', color => 'red' });
problem($r, 422, 'validation', 'two invalid fields');
is_deeply(pointers($r), ['#/color', '#/tax_id'], 'both pointers reported');
ok(!grep({ !defined $_->{detail} || $_->{detail} eq '' } @{ $r->{json}{errors} || [] }),
   'every error has a detail');
is(snapshot(), $snap, 'nothing written by invalid creates');

# --- malformed bodies ---------------------------------------------------------
for my $case (
    ['{"name":',                       'truncated JSON'],
    ['[{"name":"X"}]',                 'JSON array'],
    ['"X"',                            'JSON string'],
    ['{"name":"A","name":"B"}',        'duplicate keys'],
    [qq({"name":"\xff\xfe"}),          'invalid UTF-8'],
    ['{"name":"X"} {"name":"Y"}',      'trailing data'],
    ['{"name":"X","notes":' . ('[' x 39) . ('1') . (']' x 39) . '}', 'nesting depth 40'],
) {
    problem($t->api(POST => '/clients', $tok, $case->[0]), 400, 'malformed', $case->[1]);
}
$r = $t->api(POST => '/clients', $tok, '{"name":"X","notes":' . ('[' x 29) . '1' . (']' x 29) . '}');
problem($r, 422, 'validation', 'nesting depth 30 parses, notes has the wrong type');
is_deeply(pointers($r), ['#/notes'], 'depth 30: pointer #/notes');
problem($t->api(POST => '/clients', $tok, '{"name":"X"}', { 'Content-Type' => 'text/plain' }),
        415, 'unsupported-media-type', 'text/plain body');
problem($t->api(POST => '/clients', $tok, '{"name":"' . ('a' x (1024 * 1024 + 100)) . '"}'),
        413, 'too-large', 'body over 1m');
is(snapshot(), $snap, 'nothing written by malformed requests');

# An empty body is an empty object: nothing is given, so the required
# name is missing.
$r = $t->api(POST => '/clients', $tok, '');
problem($r, 422, 'validation', 'empty body');
is_deeply(pointers($r), ['#/name'], 'empty body: errors name #/name');

# --- conflicts ---------------------------------------------------------------
problem($t->api(POST => '/clients', $tok, { name => 'Dup', tax_id => 'RO18547290' }),
        409, 'conflict', 'same tax_id');
problem($t->api(POST => '/clients', $tok, { name => 'Dup', tax_id => '18547290' }),
        409, 'conflict', 'same company without RO');
problem($t->api(POST => '/clients', $adm, { name => 'Dup', tax_id => 'RO 18547290', owner_id => $ae->{id} }),
        409, 'conflict', 'same tax_id from another caller');
$r = $t->api(POST => '/clients', $tok, { name => 'Ext SRL', external_id => 'crm-1' });
is($r->{status}, 201, 'external_id client 201');
my $ext = $r->{json};
$snap = snapshot();
problem($t->api(POST => '/clients', $tok, { name => 'Ext 2', external_id => 'crm-1' }),
        409, 'conflict', 'same external_id');
problem($t->api(PATCH => "/clients/$novat->{id}", $tok, { tax_id => 'RO18547290' }),
        409, 'conflict', 'PATCH to a taken tax_id');
problem($t->api(PATCH => "/clients/$novat->{id}", $tok, { external_id => 'crm-1' }),
        409, 'conflict', 'PATCH to a taken external_id');
is(snapshot(), $snap, 'nothing written by conflicts');

# --- patch --------------------------------------------------------------------
$r = $t->api(PATCH => "/clients/$c->{id}", $tok, { notes => 'call monday' });
is($r->{status}, 200, 'PATCH notes 200');
is($r->{json}{version}, 2, 'version 2');
my $upd0 = outbox_count('client.updated');
$r = $t->api(PATCH => "/clients/$c->{id}", $tok, { phone => '+40 264 000 000', notes => undef },
             { 'X-Sales-Test-Now' => '2030-05-06T07:08:09Z' });
is($r->{status}, 200, 'PATCH phone + notes:null 200');
is($r->{json}{phone}, '+40 264 000 000', 'phone set');
ok(exists $r->{json}{notes} && !defined $r->{json}{notes}, 'null cleared notes');
is($r->{json}{version}, 3, 'version 3');
is($r->{json}{updated_at}, '2030-05-06T07:08:09Z', 'updated_at moved');
is($r->{json}{created_at}, $c->{created_at}, 'created_at kept');
is($r->{json}{name}, 'Exemplu SRL', 'untouched fields kept');
is(outbox_count('client.updated'), $upd0 + 1, 'outbox has client.updated');
is_deeply($t->api(GET => "/clients/$c->{id}", $tok)->{json}, $r->{json}, 'GET shows the patch');

$snap = snapshot();
for my $case (
    [{ name => undef },            '#/name'],
    [{ name => '' },               '#/name'],
    [{ tax_id => 'RO18547291' },   '#/tax_id'],
    [{ payment_terms_days => 366 }, '#/payment_terms_days'],
    [{ color => 'red' },           '#/color'],
    [{ version => 9 },             '#/version'],
) {
    my $r = $t->api(PATCH => "/clients/$c->{id}", $tok, $case->[0]);
    problem($r, 422, 'validation', "PATCH invalid $case->[1]");
    is_deeply(pointers($r), [$case->[1]], "PATCH pointer $case->[1]");
}
problem($t->api(PATCH => "/clients/$c->{id}", $tok, '[1]'), 400, 'malformed', 'PATCH array body');
problem($t->api(PATCH => '/clients/999999', $tok, { notes => 'x' }), 404, 'not-found', 'PATCH unknown client');
is(snapshot(), $snap, 'nothing written by invalid PATCHes');

# --- archive / unarchive ------------------------------------------------------------
my %ob = map { $_ => outbox_count($_) } qw(client.archived client.unarchived);
$r = $t->api(POST => "/clients/$c->{id}/archive", $tok);
is($r->{status}, 200, 'archive 200');
like($r->{json}{archived_at} // '', $ISO, 'archived_at set');
is($r->{json}{version}, 4, 'archive bumps version');
is(outbox_count('client.archived'), $ob{'client.archived'} + 1, 'outbox has client.archived');
is($t->api(GET => "/clients/$c->{id}", $tok)->{status}, 200, 'archived client still readable');

$snap = snapshot();
problem($t->api(PATCH => "/clients/$c->{id}", $tok, { notes => 'x' }), 409, 'conflict', 'PATCH archived client');
$r = $t->api(POST => "/clients/$c->{id}/archive", $tok);
ok($r->{status} == 409 || ($r->{status} == 200 && $r->{json}{version} == 4),
   'archiving an archived client: 409, or 200 without a change') or diag("$r->{status} $r->{content}");
is(snapshot(), $snap, 'nothing written on archived client');

# Tax id is free while its client is archived.
$r = $t->api(POST => '/clients', $tok, { name => 'Exemplu Nou SRL', tax_id => '18547290' });
is($r->{status}, 201, 'tax_id of an archived client can be reused');
my $reuse = $r->{json};
$snap = snapshot();
problem($t->api(POST => "/clients/$c->{id}/unarchive", $tok), 409, 'conflict',
        'unarchive while its tax_id is taken');
is(snapshot(), $snap, 'nothing written by a refused unarchive');
is($t->api(POST => "/clients/$reuse->{id}/archive", $tok)->{status}, 200, 'archive the reuser');

$r = $t->api(POST => "/clients/$c->{id}/unarchive", $tok);
is($r->{status}, 200, 'unarchive 200');
ok(exists $r->{json}{archived_at} && !defined $r->{json}{archived_at}, 'archived_at null again');
is($r->{json}{version}, 5, 'unarchive bumps version');
is(outbox_count('client.unarchived'), $ob{'client.unarchived'} + 1, 'outbox has client.unarchived');
is($t->api(PATCH => "/clients/$c->{id}", $tok, { notes => 'back' })->{status}, 200, 'PATCH after unarchive');

# --- audit ---------------------------------------------------------------------
$r = $t->api(GET => "/audit?object_type=client&object_id=$c->{id}", $adm);
is($r->{status}, 200, 'GET /audit 200');
my @au = @{ $r->{json}{items} || [] };
is(scalar @au, 6, 'six audit rows: create, 2 patches, archive, unarchive, patch');
is_deeply([map { $_->{id} } @au], [sort { $b <=> $a } map { $_->{id} } @au], 'newest first');
ok(!grep({ $_->{user_id} != $ae->{id} || $_->{object_type} ne 'client' || $_->{object_id} != $c->{id} } @au),
   'rows name the caller and the object');
ok(!grep({ ($_->{at} // '') !~ $ISO } @au), 'rows carry an ISO time');
my ($ph) = grep { ref $_->{changes} eq 'HASH' && $_->{changes}{phone} } @au;
ok($ph, 'a row records the phone change');
is_deeply($ph && $ph->{changes}{phone}, [undef, '+40 264 000 000'], 'phone change is [old, new]');
is_deeply($ph && $ph->{changes}{notes}, ['call monday', undef], 'notes change is [old, new]');
my $first = $au[-1] || {};
is_deeply($first->{changes} && $first->{changes}{name}, [undef, 'Exemplu SRL'], 'create row: name change is [null, new]');
is_deeply($first->{changes} && $first->{changes}{tax_id}, [undef, 'RO18547290'], 'create row: tax_id change is [null, new]');
problem($t->api(GET => '/audit', $tok), 403, 'forbidden', 'ae GET /audit');

# --- lists ---------------------------------------------------------------------
my $lister = $t->user('ae');
my @mine;
for my $i (1 .. 60) {
    my $r = $t->api(POST => '/clients', $lister->{token}, { name => sprintf('List Co %02d', $i) });
    push @mine, $r->{json}{id} if $r->{status} == 201;
}
is(scalar @mine, 60, '60 clients for the list owner');

sub ids { [map { $_->{id} } @{ $_[0]{json}{items} || [] }] }

$r = $t->api(GET => '/clients', $lister->{token});
is($r->{status}, 200, 'list 200');
is(scalar @{ ids($r) }, 50, 'limit defaults to 50');
ok(defined $r->{json}{next_cursor}, 'next_cursor set when more remain');
is_deeply(ids($t->api(GET => '/clients?limit=200', $lister->{token})), \@mine, 'limit 200 lists all, by id');
ok(!defined $t->api(GET => '/clients?limit=200', $lister->{token})->{json}{next_cursor}, 'next_cursor null at the end');

{
    my (@seen, $cursor, $pages);
    do {
        my $q = '/clients?limit=7' . (defined $cursor ? "&cursor=$cursor" : '');
        my $r = $t->api(GET => $q, $lister->{token});
        push @seen, @{ ids($r) };
        $cursor = $r->{json}{next_cursor};
        $pages++;
    } while (defined $cursor && $pages < 20);
    is_deeply(\@seen, \@mine, 'cursor pages cover every row exactly once, in id order');
    ok($pages >= 9 && $pages <= 10, "9 or 10 pages of 7 ($pages)");
}

for my $bad ('0', '201', 'abc', '-1') {
    $r = $t->api(GET => "/clients?limit=$bad", $lister->{token});
    problem($r, 400, 'malformed', "limit=$bad");
    like($SalesTest::JSON->encode($r->{json}{errors} || []), qr/limit/, "limit=$bad: errors name limit");
}
$r = $t->api(GET => '/clients?cursor=not-a-cursor', $lister->{token});
problem($r, 400, 'malformed', 'bad cursor');
like($SalesTest::JSON->encode($r->{json}{errors} || []), qr/cursor/, 'bad cursor: errors name cursor');
$r = $t->api(GET => '/clients?archived=maybe', $lister->{token});
problem($r, 400, 'malformed', 'archived=maybe');
like($SalesTest::JSON->encode($r->{json}{errors} || []), qr/archived/, 'errors name archived');

is_deeply(ids($t->api(GET => '/clients?q=eXeMpLu', $adm)), [$c->{id}], 'q is case-insensitive contains');
is_deeply(ids($t->api(GET => '/clients?q=co%2005&limit=200', $adm)), [$mine[4]], 'q with a space');
is_deeply(ids($t->api(GET => '/clients?tax_id=RO18547290', $adm)), [$c->{id}], 'tax_id with RO');
is_deeply(ids($t->api(GET => '/clients?tax_id=18547290', $adm)), [$c->{id}], 'tax_id without RO');
is_deeply(ids($t->api(GET => '/clients?tax_id=14399840', $adm)), [$full->{id}], 'tax_id without RO finds the RO one');
is_deeply(ids($t->api(GET => '/clients?external_id=crm-1', $adm)), [$ext->{id}], 'external_id filter');
is_deeply(ids($t->api(GET => "/clients?owner=$lister->{id}&limit=200", $adm)), \@mine, 'owner=<id>');
is_deeply(ids($t->api(GET => '/clients?owner=me&limit=200', $lister->{token})), \@mine, 'owner=me');
is_deeply(ids($t->api(GET => '/clients?owner=me&limit=200', $adm)), [], 'admin owns none');
is_deeply(ids($t->api(GET => '/clients?archived=true', $tok)), [$reuse->{id}], 'archived=true');
ok(!grep({ $_ == $reuse->{id} } @{ ids($t->api(GET => '/clients?limit=200', $tok)) }), 'archived hidden by default');
ok((grep { $_ == $reuse->{id} } @{ ids($t->api(GET => '/clients?archived=all&limit=200', $tok)) }),
   'archived=all includes archived');
ok((grep { $_ == $c->{id} } @{ ids($t->api(GET => '/clients?archived=all&limit=200', $tok)) }),
   'archived=all includes active');

# --- sales_max_body ---------------------------------------------------------------
{
    my $s = SalesTest->new(http_extra => 'sales_max_body 4k;');
    my $n = $s->sql('select count(*) from clients');
    problem($s->api(POST => '/clients', $s->{admin}, { name => 'Big', notes => 'n' x 5000 }),
            413, 'too-large', 'body over sales_max_body 4k');
    is($s->sql('select count(*) from clients'), $n, 'nothing written by 413');
    my $r = $s->api(POST => '/clients', $s->{admin}, { name => 'Small', notes => 'n' x 3000 });
    is($r->{status}, 201, 'body under 4k accepted');
    $s->stop;
}

$t->stop;
done_testing;
