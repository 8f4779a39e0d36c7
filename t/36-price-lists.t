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
my $T = JSON::PP::true;
my $F = JSON::PP::false;

sub ids { [map { $_->{id} } @{ $_[0]{json}{items} || [] }] }
sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        'select count(*) from price_lists',
        'select coalesce(sum(version),0) from price_lists',
        'select count(*) from price_list_items',
        'select coalesce(sum(version),0) from price_list_items',
        'select count(*) from clients',
        'select coalesce(sum(version),0) from clients',
        "select group_concat(coalesce(price_list_id,'-')) from (select price_list_id from clients order by id)",
        'select count(*) from audit_log';
}
sub defaults { [map { $_->{id} } grep { $_->{is_default} } @{ $t->api(GET => '/price-lists', $ae->{token})->{json}{items} || [] }] }

unlike(snapshot(), qr/ERR/, 'price_lists, price_list_items and clients.price_list_id are readable');

my @prod;
for my $i (1 .. 3) {
    my $r = $t->api(POST => '/products', $mgr->{token}, { sku => "PL-$i", name => "Priced $i" });
    is($r->{status}, 201, "product $i") or diag($r->{content});
    push @prod, $r->{json}{id};
}

# --- price lists: create / get / patch ------------------------------------------------
my $audit0 = $t->sql('select count(*) from audit_log');
my $r = $t->api(POST => '/price-lists', $mgr->{token}, { name => 'Standard 2026', currency => 'RON', is_default => $T });
is($r->{status}, 201, 'manager POST /price-lists 201') or diag($r->{content});
my $la = $r->{json} || {};
like($la->{id} // '', qr/^\d+$/, 'list id');
like($r->{headers}{location} // '', qr{/price-lists/\Q$la->{id}\E$}, 'Location');
is($la->{name}, 'Standard 2026', 'name');
is($la->{currency}, 'RON', 'currency');
ok(JSON::PP::is_bool($la->{is_default}) && $la->{is_default}, 'is_default true');
ok(exists $la->{valid_from} && !defined $la->{valid_from}, 'valid_from null');
ok(exists $la->{valid_to} && !defined $la->{valid_to}, 'valid_to null');
is($la->{version}, 1, 'version 1');
like($la->{created_at} // '', $ISO, 'created_at');
is($t->sql('select count(*) from audit_log'), $audit0 + 1, 'audit row for the list');

$r = $t->api(POST => '/price-lists', $adm, { name => 'Minimal' });
is($r->{status}, 201, 'admin POST minimal list 201') or diag($r->{content});
my $lmin = $r->{json} || {};
is($lmin->{currency}, 'RON', 'currency defaults to RON');
ok(JSON::PP::is_bool($lmin->{is_default}) && !$lmin->{is_default}, 'is_default defaults to false');

$r = $t->api(POST => '/price-lists', $mgr->{token}, { name => 'Export EUR', currency => 'EUR', valid_from => '2026-01-01',
                                                    valid_to => '2026-12-31' });
is($r->{status}, 201, 'dated EUR list 201') or diag($r->{content});
my $leur = $r->{json} || {};
is_deeply([@$leur{qw(currency valid_from valid_to)}], ['EUR', '2026-01-01', '2026-12-31'], 'currency and dates');

for my $who ([ae => $ae->{token}], [integration => $in->{token}], [manager => $mgr->{token}]) {
    $r = $t->api(GET => "/price-lists/$la->{id}", $who->[1]);
    is($r->{status}, 200, "$who->[0] GET list 200");
    is_deeply($r->{json}, $la, "$who->[0] reads the list");
    is_deeply(ids($t->api(GET => '/price-lists', $who->[1])), [$la->{id}, $lmin->{id}, $leur->{id}], "$who->[0] lists by id");
}
problem($t->api(GET => '/price-lists/999999', $ae->{token}), 404, 'not-found', 'unknown list');

$r = $t->api(PATCH => "/price-lists/$la->{id}", $mgr->{token}, { valid_to => '2026-12-31' });
is($r->{status}, 200, 'PATCH valid_to 200') or diag($r->{content});
is($r->{json}{valid_to}, '2026-12-31', 'valid_to set');
is($r->{json}{version}, 2, 'version 2');
ok($r->{json}{is_default}, 'still default');
$r = $t->api(PATCH => "/price-lists/$la->{id}", $mgr->{token}, { valid_to => undef, name => 'Standard' });
is($r->{status}, 200, 'PATCH valid_to null 200');
ok(exists $r->{json}{valid_to} && !defined $r->{json}{valid_to}, 'valid_to cleared');
is($r->{json}{name}, 'Standard', 'renamed');
$la = $r->{json};

# --- one default ----------------------------------------------------------------------
is_deeply(defaults(), [$la->{id}], 'A is the only default');
$r = $t->api(POST => '/price-lists', $mgr->{token}, { name => 'B', is_default => $T });
is($r->{status}, 201, 'B created as default');
my $lb = $r->{json} || {};
ok($lb->{is_default}, 'B is default');
is_deeply(defaults(), [$lb->{id}], 'making B default cleared A');
ok(!$t->api(GET => "/price-lists/$la->{id}", $ae->{token})->{json}{is_default}, 'GET A: not default');
is($t->sql('select count(*) from price_lists where is_default'), 1, 'one default row in the db');
$r = $t->api(PATCH => "/price-lists/$la->{id}", $adm, { is_default => $T });
is($r->{status}, 200, 'PATCH A default 200');
ok($r->{json}{is_default}, 'A default again');
is_deeply(defaults(), [$la->{id}], 'patching A default cleared B');
is($t->sql("select id from price_lists where is_default"), $la->{id}, 'the db agrees');
$r = $t->api(PATCH => "/price-lists/$lmin->{id}", $mgr->{token}, { name => 'Minimal 2' });
is_deeply(defaults(), [$la->{id}], 'a PATCH without is_default keeps the default');

# --- price list validation ---------------------------------------------------------------
my $snap = snapshot();
for my $case (
    [{},                                              '#/name'],
    [{ name => '' },                                  '#/name'],
    [{ name => 'n' x 201 },                           '#/name'],
    [{ name => 7 },                                   '#/name'],
    [{ name => 'X', currency => 'RONX' },             '#/currency'],
    [{ name => 'X', currency => 'ro' },               '#/currency'],
    [{ name => 'X', currency => 12 },                 '#/currency'],
    [{ name => 'X', valid_from => '2026-02-30' },     '#/valid_from'],
    [{ name => 'X', valid_from => '26-01-01' },       '#/valid_from'],
    [{ name => 'X', valid_to => 'tomorrow' },         '#/valid_to'],
    [{ name => 'X', valid_to => '2026-12-32' },       '#/valid_to'],
    [{ name => 'X', valid_from => '2026-02-01', valid_to => '2026-01-31' }, '#/valid_to'],
    [{ name => 'X', is_default => 'yes' },            '#/is_default'],
    [{ name => 'X', is_default => 1 },                '#/is_default'],
    [{ name => 'X', colour => 'red' },                '#/colour'],
    [{ name => 'X', items => [] },                    '#/items'],
) {
    my $r = $t->api(POST => '/price-lists', $mgr->{token}, $case->[0]);
    invalid($r, 422, 'validation', [$case->[1]], "list invalid $case->[1] " . $SalesTest::JSON->encode($case->[0]));
}
invalid($t->api(PATCH => "/price-lists/$la->{id}", $mgr->{token}, { name => undef }), 422, 'validation', ['#/name'],
        'PATCH name null');
invalid($t->api(PATCH => "/price-lists/$la->{id}", $mgr->{token}, { valid_from => '2026-13-01' }), 422, 'validation',
        ['#/valid_from'], 'PATCH bad valid_from');
problem($t->api(POST => '/price-lists', $mgr->{token}, '{"name":'), 400, 'malformed', 'malformed list body');
problem($t->api(PATCH => '/price-lists/999999', $mgr->{token}, { name => 'X' }), 404, 'not-found', 'PATCH unknown list');
is(snapshot(), $snap, 'nothing written by invalid list writes');
is_deeply(defaults(), [$la->{id}], 'default unchanged');

# --- items ------------------------------------------------------------------------------
$audit0 = $t->sql('select count(*) from audit_log');
$r = $t->api(POST => "/price-lists/$la->{id}/items", $mgr->{token}, { product_id => $prod[0], unit_price_minor => 3333 });
is($r->{status}, 201, 'POST item 201') or diag($r->{content});
my $i1 = $r->{json} || {};
like($i1->{id} // '', qr/^\d+$/, 'item id');
like($r->{headers}{location} // '', qr{/price-lists/\Q$la->{id}\E/items/\Q$i1->{id}\E$}, 'item Location');
is($i1->{product_id}, $prod[0], 'product_id');
is($i1->{min_quantity}, 1, 'min_quantity defaults to 1');
is($i1->{unit_price_minor}, 3333, 'unit_price_minor');
is($i1->{version}, 1, 'item version 1');
is($t->sql('select count(*) from audit_log'), $audit0 + 1, 'audit row for the item');
is($t->sql("select price_list_id || '|' || product_id || '|' || min_quantity || '|' || unit_price_minor "
           . "from price_list_items where id = $i1->{id}"), "$la->{id}|$prod[0]|1|3333", 'item row in the db');

$r = $t->api(POST => "/price-lists/$la->{id}/items", $adm, { product_id => $prod[0], min_quantity => 10, unit_price_minor => 3000 });
is($r->{status}, 201, 'POST break at 10: 201') or diag($r->{content});
my $i2 = $r->{json} || {};
is($i2->{min_quantity}, 10, 'min_quantity 10');
$r = $t->api(POST => "/price-lists/$la->{id}/items", $mgr->{token}, { product_id => $prod[1], unit_price_minor => 0 });
is($r->{status}, 201, 'unit_price_minor 0 accepted') or diag($r->{content});
my $i3 = $r->{json} || {};
is($i3->{unit_price_minor}, 0, 'price 0 stored');
$r = $t->api(POST => "/price-lists/$la->{id}/items", $mgr->{token},
             { product_id => $prod[2], min_quantity => 1000000000, unit_price_minor => 1000000000000 });
is($r->{status}, 201, 'large break and price accepted') or diag($r->{content});
my $i4 = $r->{json} || {};
is($i4->{unit_price_minor}, 1000000000000, 'large price stored exactly');

$r = $t->api(GET => "/price-lists/$la->{id}/items", $ae->{token});
is($r->{status}, 200, 'AE lists items');
is_deeply(ids($r), [$i1->{id}, $i2->{id}, $i3->{id}, $i4->{id}], 'items by id');
is_deeply([map { $_->{unit_price_minor} } @{ $r->{json}{items} }], [3333, 3000, 0, 1000000000000], 'item prices');
is_deeply(ids($t->api(GET => "/price-lists/$la->{id}/items", $in->{token})), [$i1->{id}, $i2->{id}, $i3->{id}, $i4->{id}],
          'integration lists items');
is_deeply(ids($t->api(GET => "/price-lists/$lb->{id}/items", $ae->{token})), [], 'B has no items');
is_deeply(($t->api(GET => "/price-lists/$la->{id}/items", $ae->{token})->{json}{items} || [])->[1], $i2,
          'the list answers the created item');
$r = $t->api(GET => "/price-lists/$la->{id}/items/$i2->{id}", $ae->{token});
is($r->{status}, 200, 'GET item 200');
is_deeply($r->{json}, $i2, 'GET answers the item');
problem($t->api(GET => "/price-lists/$la->{id}/items/999999", $ae->{token}), 404, 'not-found', 'unknown item');

# uniqueness per product and break
$snap = snapshot();
problem($t->api(POST => "/price-lists/$la->{id}/items", $mgr->{token}, { product_id => $prod[0], min_quantity => 10,
                                                                         unit_price_minor => 2900 }),
        409, 'conflict', 'same product and break 409');
problem($t->api(POST => "/price-lists/$la->{id}/items", $mgr->{token}, { product_id => $prod[0], unit_price_minor => 1 }),
        409, 'conflict', 'same product, default break 1, 409');
problem($t->api(POST => "/price-lists/$la->{id}/items", $mgr->{token}, { product_id => $prod[0], min_quantity => 1,
                                                                         unit_price_minor => 1 }),
        409, 'conflict', 'same product, explicit break 1, 409');
problem($t->api(PATCH => "/price-lists/$la->{id}/items/$i2->{id}", $mgr->{token}, { min_quantity => 1 }),
        409, 'conflict', 'PATCH break onto a taken one 409');
is(snapshot(), $snap, 'nothing written by conflicting items');
$r = $t->api(POST => "/price-lists/$lb->{id}/items", $mgr->{token}, { product_id => $prod[0], min_quantity => 10,
                                                                    unit_price_minor => 2800 });
is($r->{status}, 201, 'the same product and break in another list: 201') or diag($r->{content});
my $ib = $r->{json} || {};
$r = $t->api(POST => "/price-lists/$la->{id}/items", $mgr->{token}, { product_id => $prod[0], min_quantity => 11,
                                                                    unit_price_minor => 2950 });
is($r->{status}, 201, 'another break of the same product: 201');
my $i5 = $r->{json} || {};

# item validation
$snap = snapshot();
for my $case (
    [{ unit_price_minor => 100 },                                         '#/product_id'],
    [{ product_id => 999999, unit_price_minor => 100 },                   '#/product_id'],
    [{ product_id => "$prod[1]", unit_price_minor => 100 },               '#/product_id'],
    [{ product_id => $prod[2] },                                          '#/unit_price_minor'],
    [{ product_id => $prod[2], unit_price_minor => -1 },                  '#/unit_price_minor'],
    [{ product_id => $prod[2], unit_price_minor => 12.5 },                '#/unit_price_minor'],
    [{ product_id => $prod[2], unit_price_minor => '100' },               '#/unit_price_minor'],
    [{ product_id => $prod[2], unit_price_minor => undef },               '#/unit_price_minor'],
    [{ product_id => $prod[2], unit_price_minor => 100, min_quantity => 0 },    '#/min_quantity'],
    [{ product_id => $prod[2], unit_price_minor => 100, min_quantity => -5 },   '#/min_quantity'],
    [{ product_id => $prod[2], unit_price_minor => 100, min_quantity => 1.5 },  '#/min_quantity'],
    [{ product_id => $prod[2], unit_price_minor => 100, min_quantity => '2' },  '#/min_quantity'],
    [{ product_id => $prod[2], unit_price_minor => 100, discount => 5 },        '#/discount'],
) {
    my $r = $t->api(POST => "/price-lists/$la->{id}/items", $mgr->{token}, $case->[0]);
    invalid($r, 422, 'validation', [$case->[1]], "item invalid $case->[1] " . $SalesTest::JSON->encode($case->[0]));
}
invalid($t->api(POST => "/price-lists/$la->{id}/items", $mgr->{token}, {}), 422, 'validation',
        ['#/product_id', '#/unit_price_minor'], 'empty item body');
invalid($t->api(PATCH => "/price-lists/$la->{id}/items/$i1->{id}", $mgr->{token}, { unit_price_minor => -1 }),
        422, 'validation', ['#/unit_price_minor'], 'PATCH negative price');
invalid($t->api(PATCH => "/price-lists/$la->{id}/items/$i1->{id}", $mgr->{token}, { unit_price_minor => 3333.5 }),
        422, 'validation', ['#/unit_price_minor'], 'PATCH fractional price');
invalid($t->api(PATCH => "/price-lists/$la->{id}/items/$i1->{id}", $mgr->{token}, { min_quantity => 0 }),
        422, 'validation', ['#/min_quantity'], 'PATCH min_quantity 0');
problem($t->api(POST => "/price-lists/999999/items", $mgr->{token}, { product_id => $prod[2], unit_price_minor => 1 }),
        404, 'not-found', 'item of an unknown list');
problem($t->api(GET => "/price-lists/999999/items", $ae->{token}), 404, 'not-found', 'items of an unknown list');
problem($t->api(GET => "/price-lists/$lb->{id}/items/$i1->{id}", $ae->{token}), 404, 'not-found',
        'GET A item through the B path');
problem($t->api(PATCH => "/price-lists/$lb->{id}/items/$i1->{id}", $mgr->{token}, { unit_price_minor => 1 }), 404,
        'not-found', 'PATCH A item through the B path');
problem($t->api(DELETE => "/price-lists/$lb->{id}/items/$i1->{id}", $mgr->{token}), 404, 'not-found',
        'DELETE A item through the B path');
is(snapshot(), $snap, 'nothing written by invalid items');

# patch / delete items
$r = $t->api(PATCH => "/price-lists/$la->{id}/items/$i2->{id}", $mgr->{token}, { unit_price_minor => 2900 });
is($r->{status}, 200, 'PATCH item 200') or diag($r->{content});
is($r->{json}{unit_price_minor}, 2900, 'price changed');
is($r->{json}{min_quantity}, 10, 'break kept');
is($r->{json}{version}, 2, 'item version 2');
is($t->sql("select unit_price_minor from price_list_items where id = $i2->{id}"), 2900, 'price in the db');
$audit0 = $t->sql('select count(*) from audit_log');
$r = $t->api(DELETE => "/price-lists/$la->{id}/items/$i5->{id}", $mgr->{token});
is($r->{status}, 204, 'DELETE item 204');
is($r->{content}, '', '204 has no body');
is($t->sql('select count(*) from audit_log'), $audit0 + 1, 'audit row for the delete');
is($t->sql("select count(*) from price_list_items where id = $i5->{id}"), 0, 'item row gone');
problem($t->api(PATCH => "/price-lists/$la->{id}/items/$i5->{id}", $mgr->{token}, { unit_price_minor => 1 }), 404,
        'not-found', 'deleted item cannot be patched');
problem($t->api(GET => "/price-lists/$la->{id}/items/$i5->{id}", $ae->{token}), 404, 'not-found', 'deleted item gone');
problem($t->api(DELETE => "/price-lists/$la->{id}/items/$i5->{id}", $mgr->{token}), 404, 'not-found', 'delete twice');
is_deeply(ids($t->api(GET => "/price-lists/$la->{id}/items", $ae->{token})), [$i1->{id}, $i2->{id}, $i3->{id}, $i4->{id}],
          'items after delete');
$r = $t->api(POST => "/price-lists/$la->{id}/items", $mgr->{token}, { product_id => $prod[0], min_quantity => 11,
                                                                    unit_price_minor => 2940 });
is($r->{status}, 201, 'the deleted break can be added again');

# --- AE and integration may not write ---------------------------------------------------------
$snap = snapshot();
for my $who ([ae => $ae->{token}], [integration => $in->{token}]) {
    my ($n, $tok) = @$who;
    problem($t->api(POST => '/price-lists', $tok, { name => "By $n" }), 403, 'forbidden', "$n POST list");
    problem($t->api(PATCH => "/price-lists/$la->{id}", $tok, { name => "By $n" }), 403, 'forbidden', "$n PATCH list");
    problem($t->api(PATCH => "/price-lists/$lb->{id}", $tok, { is_default => $T }), 403, 'forbidden', "$n makes B default");
    problem($t->api(POST => "/price-lists/$la->{id}/items", $tok, { product_id => $prod[2], min_quantity => 5,
                                                                    unit_price_minor => 1 }),
            403, 'forbidden', "$n POST item");
    problem($t->api(PATCH => "/price-lists/$la->{id}/items/$i1->{id}", $tok, { unit_price_minor => 1 }), 403, 'forbidden',
            "$n PATCH item");
    problem($t->api(DELETE => "/price-lists/$la->{id}/items/$i1->{id}", $tok), 403, 'forbidden', "$n DELETE item");
}
is(snapshot(), $snap, 'nothing written by forbidden writes');
is_deeply(defaults(), [$la->{id}], 'A still the default');
is($t->api(GET => "/price-lists/$la->{id}/items/$i1->{id}", $ae->{token})->{json}{unit_price_minor}, 3333, 'item unchanged');

# --- a client's price_list_id ---------------------------------------------------------------
$r = $t->api(POST => '/clients', $ae->{token}, { name => 'Client Lista SRL' });
is($r->{status}, 201, 'AE creates a client');
my $c = $r->{json} || {};
ok(exists $c->{price_list_id} && !defined $c->{price_list_id}, 'price_list_id null by default');
ok(exists $c->{loyalty_level_id} && !defined $c->{loyalty_level_id}, 'loyalty_level_id null by default');
ok(exists $c->{loyalty_since} && !defined $c->{loyalty_since}, 'loyalty_since null by default');
my $c2 = $t->api(POST => '/clients', $ae2->{token}, { name => 'Other AE SRL' })->{json} || {};

$r = $t->api(PATCH => "/clients/$c->{id}", $mgr->{token}, { price_list_id => $lb->{id} });
is($r->{status}, 200, 'manager sets price_list_id 200') or diag($r->{content});
is($r->{json}{price_list_id}, $lb->{id}, 'price_list_id answered');
is($r->{json}{version}, 2, 'client version 2');
is($t->sql("select price_list_id from clients where id = $c->{id}"), $lb->{id}, 'price_list_id in the db');
is($t->api(GET => "/clients/$c->{id}", $ae->{token})->{json}{price_list_id}, $lb->{id}, 'the AE sees the list');

$snap = snapshot();
problem($t->api(PATCH => "/clients/$c->{id}", $ae->{token}, { price_list_id => $la->{id} }), 403, 'forbidden',
        'AE sets price_list_id 403');
problem($t->api(PATCH => "/clients/$c->{id}", $ae->{token}, { price_list_id => undef }), 403, 'forbidden',
        'AE clears price_list_id 403');
problem($t->api(POST => '/clients', $ae->{token}, { name => 'Own List SRL', price_list_id => $la->{id} }), 403,
        'forbidden', 'AE creates a client with price_list_id 403');
is(snapshot(), $snap, 'nothing written by the AE');
is($t->sql("select price_list_id from clients where id = $c->{id}"), $lb->{id}, 'price_list_id unchanged');
is($t->sql("select count(*) from clients where name = 'Own List SRL'"), 0, 'no client created');
is($t->sql("select coalesce(notes,'-') from clients where id = $c->{id}"), '-', 'notes unchanged');

# The README: an AE who sends price_list_id gets 403, also when it is the current value.
$snap = snapshot();
problem($t->api(PATCH => "/clients/$c->{id}", $ae->{token}, { price_list_id => $lb->{id}, notes => 'x' }), 403,
        'forbidden', 'AE sends the current price_list_id with another change 403');
is(snapshot(), $snap, 'nothing written when the AE sends the current price_list_id');
is($t->sql("select coalesce(notes,'-') from clients where id = $c->{id}"), '-', 'notes not changed by that request');

$r = $t->api(PATCH => "/clients/$c->{id}", $ae->{token}, { notes => 'ok' });
is($r->{status}, 200, 'AE may still change other fields');
is($r->{json}{price_list_id}, $lb->{id}, 'price_list_id kept');

invalid($t->api(PATCH => "/clients/$c->{id}", $mgr->{token}, { price_list_id => 999999 }), 422, 'validation',
        ['#/price_list_id'], 'unknown price_list_id 422');
invalid($t->api(PATCH => "/clients/$c->{id}", $mgr->{token}, { price_list_id => 'B' }), 422, 'validation',
        ['#/price_list_id'], 'price_list_id not an integer 422');
invalid($t->api(PATCH => "/clients/$c->{id}", $mgr->{token}, { loyalty_level_id => 1 }), 422, 'validation',
        ['#/loyalty_level_id'], 'loyalty_level_id is read-only');
invalid($t->api(PATCH => "/clients/$c->{id}", $mgr->{token}, { loyalty_since => '2026-01-01T00:00:00Z' }), 422,
        'validation', ['#/loyalty_since'], 'loyalty_since is read-only');
invalid($t->api(POST => '/clients', $mgr->{token}, { name => 'Bad List SRL', price_list_id => 999999 }), 422, 'validation',
        ['#/price_list_id'], 'create with unknown price_list_id 422');
is($t->sql("select price_list_id from clients where id = $c->{id}"), $lb->{id}, 'still B');
problem($t->api(PATCH => "/clients/$c2->{id}", $mgr->{token}, { price_list_id => $la->{id} }), 404, 'not-found',
        'manager cannot set the list of a client outside the team');

$r = $t->api(PATCH => "/clients/$c->{id}", $mgr->{token}, { price_list_id => undef });
is($r->{status}, 200, 'manager clears price_list_id');
ok(exists $r->{json}{price_list_id} && !defined $r->{json}{price_list_id}, 'price_list_id null again');
is($t->sql("select coalesce(price_list_id,'null') from clients where id = $c->{id}"), 'null', 'null in the db');

$r = $t->api(PATCH => "/clients/$c2->{id}", $adm, { price_list_id => $leur->{id} });
is($r->{status}, 200, 'admin sets a price_list_id');
is($r->{json}{price_list_id}, $leur->{id}, 'admin set EUR list');
$r = $t->api(POST => '/clients', $mgr->{token}, { name => 'Manager List SRL', owner_id => $ae->{id}, price_list_id => $la->{id} });
is($r->{status}, 201, 'manager creates a client with price_list_id') or diag($r->{content});
is($r->{json}{price_list_id}, $la->{id}, 'price_list_id set on create');

$t->stop;
done_testing;
