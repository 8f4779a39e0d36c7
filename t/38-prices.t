use strict;
use warnings;
use Test::More;
use lib 't/lib';
use SalesTest;

my $t   = SalesTest->new;
my $adm = $t->{admin};
my $mgr = $t->user('manager');
my $ua  = $t->user('ae', manager_id => $mgr->{id});
my $ub  = $t->user('ae');
my $T = JSON::PP::true;
my $F = JSON::PP::false;

sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        'select count(*) from audit_log', $SalesTest::OUTBOX_COUNT,
        'select coalesce(sum(version),0) from clients', 'select coalesce(sum(version),0) from price_lists',
        'select coalesce(sum(version),0) from price_list_items', 'select coalesce(sum(version),0) from products';
}

# GET /prices with the given query (a list of pairs, in order).
sub price {
    my ($tok, @q) = @_;
    my $h = {};
    if (@q % 2) { $h = pop @q }
    my @pairs;
    while (my ($k, $v) = splice @q, 0, 2) { push @pairs, "$k=$v" }
    return $t->api(GET => '/prices?' . join('&', @pairs), $tok, undef, $h);
}

# Compares the fields of one priced answer (or one quote line) with %want.
sub line_is {
    my ($got, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my %g = (
        list_unit_price_minor => $got->{list_unit_price_minor},
        net_unit_price_minor  => $got->{net_unit_price_minor},
        net_minor             => $got->{net_minor},
        vat_minor             => $got->{vat_minor},
        gross_minor           => $got->{gross_minor},
        rate_bp               => ref $got->{vat} eq 'HASH' ? $got->{vat}{rate_bp} : undef,
        category              => ref $got->{vat} eq 'HASH' ? $got->{vat}{category} : undef,
        min_quantity          => ref $got->{break} eq 'HASH' ? $got->{break}{min_quantity} : undef,
        list                  => ref $got->{price_list} eq 'HASH' ? $got->{price_list}{id} : undef,
    );
    is_deeply({ map { $_ => $g{$_} } keys %$want }, $want, $name)
        or diag($SalesTest::JSON->encode($got));
}
sub priced {
    my ($r, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is($r->{status}, 200, "$name: 200") or return diag($r->{content});
    line_is($r->{json}, $want, $name);
}

# 400 naming the query parameter.
sub bad_param {
    my ($r, $param, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    problem($r, 400, 'malformed', $name);
    my @named = grep { ($_->{pointer} // '') =~ /(?:^|\/)\Q$param\E$/ || ($_->{detail} // '') =~ /\b\Q$param\E\b/ }
                @{ ref $r->{json} eq 'HASH' && ref $r->{json}{errors} eq 'ARRAY' ? $r->{json}{errors} : [] };
    ok(@named, "$name: errors name $param") or diag($r->{content});
}

# --- data ------------------------------------------------------------------------------------------
my %p;
for my $x ([STD => 'standard'], [RED => 'reduced'], [LOW => 'reduced_low'], [ZERO => 'zero'], [INACT => 'standard'],
           [NONE => 'standard'], [R1001 => 'standard'], [R1010 => 'standard'], [R3333 => 'standard'],
           [R150 => 'standard'], [R50 => 'standard'], [B5 => 'standard']) {
    $p{$x->[0]} = must($t->api(POST => '/products', $mgr->{token},
                               { sku => $x->[0], name => "Product $x->[0]", vat_category => $x->[1] }), 201,
                       "product $x->[0]")->{id};
}

sub item {
    my ($list, $prod, $min, $price) = @_;
    return must($t->api(POST => "/price-lists/$list/items", $mgr->{token},
                        { product_id => $p{$prod}, min_quantity => $min, unit_price_minor => $price }), 201,
                "item $prod $min")->{id};
}

my $def = must($t->api(POST => '/price-lists', $mgr->{token}, { name => 'Lista standard', currency => 'RON' }), 201,
               'default list');
my %it;
$it{std1}  = item($def->{id}, STD   => 1,  5000);
$it{std10} = item($def->{id}, STD   => 10, 4600);
item($def->{id}, RED   => 1, 2000);
item($def->{id}, LOW   => 1, 1000);
item($def->{id}, ZERO  => 1, 7000);
item($def->{id}, INACT => 1, 1000);
item($def->{id}, R1001 => 1, 1001);
item($def->{id}, R1010 => 1, 1010);
item($def->{id}, R3333 => 1, 3333);
item($def->{id}, R150  => 1, 150);
item($def->{id}, R50   => 1, 50);
$it{b5} = item($def->{id}, B5 => 5, 800);
must($t->api(PATCH => "/products/$p{INACT}", $mgr->{token}, { active => $F }), 200, 'deactivate INACT');

my $own = must($t->api(POST => '/price-lists', $mgr->{token}, { name => 'Lista client 2025', currency => 'RON',
                                                                valid_from => '2025-01-01', valid_to => '2025-12-31' }),
               201, 'own list');
$it{own1}  = item($own->{id}, STD => 1,  4000);
$it{own10} = item($own->{id}, STD => 10, 3000);
my $eur = must($t->api(POST => '/price-lists', $mgr->{token}, { name => 'Lista EUR', currency => 'EUR' }), 201, 'EUR list');
item($eur->{id}, STD => 1, 1200);

my $gold = must($t->api(POST => '/loyalty/levels', $mgr->{token}, { name => 'Gold', threshold_minor => 10000000,
                                                                    discount_bp => 500 }), 201, 'Gold');

sub client {
    my ($name, %o) = @_;
    my $c = must($t->api(POST => '/clients', $ua->{token}, { name => $name, ($o{currency} ? (currency => $o{currency}) : ()) }),
                 201, "client $name");
    must($t->api(PATCH => "/clients/$c->{id}", $mgr->{token}, { price_list_id => $o{list} }), 200, "list of $name")
        if $o{list};
    must($t->api(PUT => "/clients/$c->{id}/loyalty", $mgr->{token}, { level_id => $o{level} }), 200, "level of $name")
        if $o{level};
    return $c->{id};
}
my $c1 = client('Implicit SRL');                                          # default list, no level
my $c2 = client('Propriu Gold SRL', list => $own->{id}, level => $gold->{id});
my $c3 = client('Propriu SRL', list => $own->{id});
my $c4 = client('Euro Fara Lista SRL', currency => 'EUR');                # EUR client, default RON list
my $c5 = client('Euro Lista SRL', currency => 'EUR', list => $eur->{id});
my $c6 = client('Implicit Gold SRL', level => $gold->{id});               # default list, Gold
my $c7 = client('Euro Lista RON SRL', currency => 'EUR', list => $own->{id});
my $cb = must($t->api(POST => '/clients', $ub->{token}, { name => 'Alt AE SRL' }), 201, 'B client')->{id};
is($t->sql("select price_list_id from clients where id = $c2"), $own->{id}, 'c2 has its own list');
is($t->sql("select loyalty_level_id from clients where id = $c6"), $gold->{id}, 'c6 is Gold');

my $snap = snapshot();

# --- rule 1: the list -------------------------------------------------------------------------------------
problem(price($ua->{token}, client_id => $c1, product_id => $p{STD}, quantity => 1, date => '2025-08-01'), 422, 'validation',
        'no default list yet: 422, never a zero price');
must($t->api(PATCH => "/price-lists/$def->{id}", $mgr->{token}, { is_default => $T }), 200, 'make the default');
$snap = snapshot();

my $r = price($ua->{token}, client_id => $c1, product_id => $p{STD}, quantity => 1, date => '2025-08-01');
# 5000 x 1 = 5000; VAT 5000 x 2100 / 10000 = 1050; gross 6050
priced($r, { list => $def->{id}, min_quantity => 1, list_unit_price_minor => 5000, net_unit_price_minor => 5000,
             net_minor => 5000, category => 'standard', rate_bp => 2100, vat_minor => 1050, gross_minor => 6050 },
       'default list, no level');
my $j = $r->{json} || {};
is($j->{client_id}, $c1, 'client_id');
is($j->{product_id}, $p{STD}, 'product_id');
is($j->{quantity}, 1, 'quantity');
is($j->{date}, '2025-08-01', 'date');
is($j->{currency}, 'RON', 'currency');
is_deeply($j->{price_list}, { id => $def->{id}, name => 'Lista standard', default => $T }, 'price_list {id, name, default}');
is_deeply($j->{break}, { item_id => $it{std1}, min_quantity => 1 }, 'break {item_id, min_quantity}');
ok(exists $j->{loyalty} && !defined $j->{loyalty}, 'loyalty null');
ok(ref $j->{explanation} eq 'ARRAY' && @{ $j->{explanation} }, 'explanation is a non-empty list');
ok(!grep({ !defined $_ || ref $_ || !length $_ } @{ $j->{explanation} || [undef] }), 'explanation lines are non-empty strings');
like(join(' ', @{ $j->{explanation} || [] }), qr/Lista standard/, 'explanation names the list');

$r = price($ua->{token}, client_id => $c3, product_id => $p{STD}, quantity => 1, date => '2025-08-01');
# own list: 4000 x 1 = 4000; VAT 4000 x 2100 / 10000 = 840; gross 4840
priced($r, { list => $own->{id}, list_unit_price_minor => 4000, net_minor => 4000, vat_minor => 840, gross_minor => 4840 },
       "the client's own list wins over the default");
is_deeply($r->{json}{price_list}, { id => $own->{id}, name => 'Lista client 2025', default => $F }, 'own list, not default');
is_deeply($r->{json}{break}, { item_id => $it{own1}, min_quantity => 1 }, 'own list break');

# Validity dates of the own list (2025-01-01 .. 2025-12-31, inclusive).
$r = price($ua->{token}, client_id => $c3, product_id => $p{STD}, quantity => 1, date => '2025-12-31');
# 4000; VAT 4000 x 2100 / 10000 = 840; gross 4840
priced($r, { list => $own->{id}, net_minor => 4000, vat_minor => 840, gross_minor => 4840 }, 'valid_to is inclusive');
$r = price($ua->{token}, client_id => $c3, product_id => $p{STD}, quantity => 1, date => '2025-01-01');
# 4000; VAT 4000 x 1900 / 10000 = 760; gross 4760
priced($r, { list => $own->{id}, rate_bp => 1900, net_minor => 4000, vat_minor => 760, gross_minor => 4760 },
       'valid_from is inclusive');
problem(price($ua->{token}, client_id => $c3, product_id => $p{STD}, quantity => 1, date => '2026-01-01'), 422, 'validation',
        'the day after valid_to: 422 (no fallback to the default list)');
problem(price($ua->{token}, client_id => $c3, product_id => $p{STD}, quantity => 1, date => '2024-12-31'), 422, 'validation',
        'the day before valid_from: 422');

# Currency.
problem(price($ua->{token}, client_id => $c4, product_id => $p{STD}, quantity => 1, date => '2025-08-01'), 422, 'validation',
        'EUR client on the RON default list: 422');
problem(price($ua->{token}, client_id => $c7, product_id => $p{STD}, quantity => 1, date => '2025-08-01'), 422, 'validation',
        'EUR client on its own RON list: 422');
$r = price($ua->{token}, client_id => $c5, product_id => $p{STD}, quantity => 2, date => '2025-08-01');
# 1200 x 2 = 2400 EUR; VAT 2400 x 2100 / 10000 = 504; gross 2904
priced($r, { list => $eur->{id}, list_unit_price_minor => 1200, net_minor => 2400, vat_minor => 504, gross_minor => 2904 },
       'EUR client on an EUR list');
is($r->{json}{currency}, 'EUR', 'currency EUR');

# --- rule 2: the break ----------------------------------------------------------------------------------------
$r = price($ua->{token}, client_id => $c1, product_id => $p{STD}, quantity => 9, date => '2025-08-01');
# q=9 < 10: 5000 x 9 = 45000; VAT 45000 x 2100 / 10000 = 9450; gross 54450
priced($r, { min_quantity => 1, list_unit_price_minor => 5000, net_unit_price_minor => 5000, net_minor => 45000,
             vat_minor => 9450, gross_minor => 54450 }, 'q=9: below the break');
$r = price($ua->{token}, client_id => $c1, product_id => $p{STD}, quantity => 10, date => '2025-08-01');
# q=10: break 10 applies: 4600 x 10 = 46000; VAT 46000 x 2100 / 10000 = 9660; gross 55660
priced($r, { min_quantity => 10, list_unit_price_minor => 4600, net_unit_price_minor => 4600, net_minor => 46000,
             vat_minor => 9660, gross_minor => 55660 }, 'q=10: on the break');
is_deeply($r->{json}{break}, { item_id => $it{std10}, min_quantity => 10 }, 'break item of 10');
$r = price($ua->{token}, client_id => $c1, product_id => $p{STD}, quantity => 11, date => '2025-08-01');
# q=11: 4600 x 11 = 50600; VAT 50600 x 2100 / 10000 = 10626; gross 61226
priced($r, { min_quantity => 10, list_unit_price_minor => 4600, net_minor => 50600, vat_minor => 10626,
             gross_minor => 61226 }, 'q=11: above the break');
$r = price($ua->{token}, client_id => $c1, product_id => $p{STD}, quantity => 1000000000, date => '2025-08-01');
# q=10^9: 4600 x 10^9 = 4600000000000; VAT x 0.21 = 966000000000; gross 5566000000000
priced($r, { min_quantity => 10, net_minor => 4600000000000, vat_minor => 966000000000, gross_minor => 5566000000000 },
       'the largest quantity');
problem(price($ua->{token}, client_id => $c1, product_id => $p{B5}, quantity => 4, date => '2025-08-01'), 422, 'validation',
        'no item at or below the quantity (only a break at 5): 422');
$r = price($ua->{token}, client_id => $c1, product_id => $p{B5}, quantity => 5, date => '2025-08-01');
# 800 x 5 = 4000; VAT 840; gross 4840
priced($r, { min_quantity => 5, net_minor => 4000, vat_minor => 840, gross_minor => 4840 }, 'only break at 5, q=5');
is($r->{json}{break}{item_id}, $it{b5}, 'break item of 5');
problem(price($ua->{token}, client_id => $c1, product_id => $p{NONE}, quantity => 1, date => '2025-08-01'), 422,
        'validation', 'product not in the list: 422');
problem(price($ua->{token}, client_id => $c3, product_id => $p{RED}, quantity => 1, date => '2025-08-01'), 422,
        'validation', 'product in the default list but not in the own list: 422');
problem(price($ua->{token}, client_id => $c1, product_id => $p{INACT}, quantity => 1, date => '2025-08-01'), 422,
        'validation', 'inactive product: 422');

# --- rule 3 and 4: the loyalty discount after the break, rounding once ------------------------------------
$r = price($ua->{token}, client_id => $c2, product_id => $p{STD}, quantity => 10, date => '2025-08-01');
# break 3000, Gold 5 %: unit 3000 x 9500 / 10000 = 2850; net 3000 x 10 x 9500 / 10000 = 28500;
# VAT 28500 x 2100 / 10000 = 5985; gross 34485
priced($r, { list => $own->{id}, min_quantity => 10, list_unit_price_minor => 3000, net_unit_price_minor => 2850,
             net_minor => 28500, vat_minor => 5985, gross_minor => 34485 }, 'loyalty 5 % after the break');
ok(ref $r->{json}{loyalty} eq 'HASH', 'loyalty answered');
is($r->{json}{loyalty}{discount_bp}, 500, 'loyalty discount_bp 500') if ref $r->{json}{loyalty} eq 'HASH';
$r = price($ua->{token}, client_id => $c2, product_id => $p{STD}, quantity => 9, date => '2025-08-01');
# 4000 x 9 x 9500 / 10000 = 34200; unit 3800; VAT 34200 x 0.21 = 7182; gross 41382
priced($r, { min_quantity => 1, list_unit_price_minor => 4000, net_unit_price_minor => 3800, net_minor => 34200,
             vat_minor => 7182, gross_minor => 41382 }, 'loyalty 5 % below the break');

$r = price($ua->{token}, client_id => $c6, product_id => $p{R1001}, quantity => 1, date => '2025-08-01');
# 1001 x 9500 / 10000 = 950.95 -> 951; VAT 951 x 0.21 = 199.71 -> 200; gross 1151
priced($r, { list => $def->{id}, list_unit_price_minor => 1001, net_unit_price_minor => 951, net_minor => 951,
             vat_minor => 200, gross_minor => 1151 }, '950.95 rounds to 951');
$r = price($ua->{token}, client_id => $c6, product_id => $p{R1010}, quantity => 1, date => '2025-08-01');
# 1010 x 9500 / 10000 = 959.5 -> 960 (half away from zero); VAT 960 x 0.21 = 201.6 -> 202; gross 1162
priced($r, { net_unit_price_minor => 960, net_minor => 960, vat_minor => 202, gross_minor => 1162 },
       '959.5 rounds half away from zero to 960');
$r = price($ua->{token}, client_id => $c6, product_id => $p{R1010}, quantity => 3, date => '2025-08-01');
# net rounded once: 1010 x 3 x 9500 / 10000 = 2878.5 -> 2879 (not 960 x 3 = 2880); unit 960;
# VAT 2879 x 0.21 = 604.59 -> 605; gross 3484
priced($r, { net_unit_price_minor => 960, net_minor => 2879, vat_minor => 605, gross_minor => 3484 },
       'the net is rounded once, not per unit');

# --- rule 5: VAT on the date -------------------------------------------------------------------------------
$r = price($ua->{token}, client_id => $c1, product_id => $p{R3333}, quantity => 3, date => '2025-08-01');
# 3333 x 3 = 9999; VAT 9999 x 2100 / 10000 = 2099.79 -> 2100; gross 12099
priced($r, { net_unit_price_minor => 3333, net_minor => 9999, rate_bp => 2100, vat_minor => 2100, gross_minor => 12099 },
       '3 x 3333 at 21 %');
$r = price($ua->{token}, client_id => $c1, product_id => $p{STD}, quantity => 1, date => '2025-07-31');
# 5000; VAT 5000 x 1900 / 10000 = 950; gross 5950
priced($r, { category => 'standard', rate_bp => 1900, vat_minor => 950, gross_minor => 5950 }, 'standard on 2025-07-31: 19 %');
is($r->{json}{date}, '2025-07-31', 'date answered');
$r = price($ua->{token}, client_id => $c1, product_id => $p{STD}, quantity => 1, date => '2025-08-01');
# 5000; VAT 5000 x 2100 / 10000 = 1050; gross 6050
priced($r, { category => 'standard', rate_bp => 2100, vat_minor => 1050, gross_minor => 6050 }, 'standard on 2025-08-01: 21 %');
$r = price($ua->{token}, client_id => $c1, product_id => $p{RED}, quantity => 1, date => '2025-07-31');
# 2000; VAT 2000 x 900 / 10000 = 180; gross 2180
priced($r, { category => 'reduced', rate_bp => 900, net_minor => 2000, vat_minor => 180, gross_minor => 2180 },
       'reduced on 2025-07-31: 9 %');
$r = price($ua->{token}, client_id => $c1, product_id => $p{RED}, quantity => 1, date => '2025-08-01');
# 2000; VAT 2000 x 1100 / 10000 = 220; gross 2220
priced($r, { category => 'reduced', rate_bp => 1100, net_minor => 2000, vat_minor => 220, gross_minor => 2220 },
       'reduced on 2025-08-01: 11 %');
$r = price($ua->{token}, client_id => $c1, product_id => $p{LOW}, quantity => 1, date => '2025-07-31');
# 1000; VAT 1000 x 500 / 10000 = 50; gross 1050
priced($r, { category => 'reduced_low', rate_bp => 500, vat_minor => 50, gross_minor => 1050 }, 'reduced_low on 2025-07-31: 5 %');
$r = price($ua->{token}, client_id => $c1, product_id => $p{LOW}, quantity => 1, date => '2025-08-01');
# 1000; VAT 1000 x 1100 / 10000 = 110; gross 1110
priced($r, { category => 'reduced_low', rate_bp => 1100, vat_minor => 110, gross_minor => 1110 }, 'reduced_low on 2025-08-01: 11 %');
$r = price($ua->{token}, client_id => $c1, product_id => $p{ZERO}, quantity => 2, date => '2025-08-01');
# 7000 x 2 = 14000; VAT 0; gross 14000
priced($r, { category => 'zero', rate_bp => 0, net_minor => 14000, vat_minor => 0, gross_minor => 14000 }, 'zero rate');
$r = price($ua->{token}, client_id => $c1, product_id => $p{R150}, quantity => 1, date => '2025-07-31');
# 150 x 1900 / 10000 = 28.5 -> 29; gross 179
priced($r, { rate_bp => 1900, net_minor => 150, vat_minor => 29, gross_minor => 179 }, 'VAT 28.5 rounds to 29');
$r = price($ua->{token}, client_id => $c1, product_id => $p{R150}, quantity => 1, date => '2025-08-01');
# 150 x 2100 / 10000 = 31.5 -> 32; gross 182
priced($r, { rate_bp => 2100, net_minor => 150, vat_minor => 32, gross_minor => 182 }, 'VAT 31.5 rounds to 32');
$r = price($ua->{token}, client_id => $c1, product_id => $p{R150}, quantity => 3, date => '2025-08-01');
# VAT rounded once on the net: 450 x 2100 / 10000 = 94.5 -> 95 (not 3 x 32 = 96); gross 545
priced($r, { rate_bp => 2100, net_minor => 450, vat_minor => 95, gross_minor => 545 }, 'VAT rounded once, not per unit');
$r = price($ua->{token}, client_id => $c1, product_id => $p{R50}, quantity => 1, date => '2025-08-01');
# 50 x 2100 / 10000 = 10.5 -> 11; gross 61
priced($r, { rate_bp => 2100, net_minor => 50, vat_minor => 11, gross_minor => 61 }, 'VAT 10.5 rounds to 11');

# The date defaults to today (the test clock).
$r = price($ua->{token}, client_id => $c1, product_id => $p{STD}, quantity => 1, { 'X-Sales-Test-Now' => '2025-07-31T23:30:00Z' });
# 5000 at 19 %: 950; gross 5950
priced($r, { rate_bp => 1900, vat_minor => 950, gross_minor => 5950 }, 'no date: today 2025-07-31');
is($r->{json}{date}, '2025-07-31', 'date defaults to today');
$r = price($ua->{token}, client_id => $c1, product_id => $p{STD}, quantity => 1, { 'X-Sales-Test-Now' => '2025-08-01T00:00:00Z' });
# 5000 at 21 %: 1050; gross 6050
priced($r, { rate_bp => 2100, vat_minor => 1050, gross_minor => 6050 }, 'no date: today 2025-08-01');
is($r->{json}{date}, '2025-08-01', 'date defaults to today (next day)');

# --- parameters and visibility ----------------------------------------------------------------------------------
my @ok = (client_id => $c1, product_id => $p{STD}, quantity => 1, date => '2025-08-01');
# @ok with some parameters replaced (undef leaves one out).
sub with {
    my %o = @_;
    my @out;
    for (my $i = 0; $i < @ok; $i += 2) {
        my $k = $ok[$i];
        if (!exists $o{$k})      { push @out, $k, $ok[$i + 1] }
        elsif (defined $o{$k})   { push @out, $k, $o{$k} }
    }
    return @out;
}
for my $case (
    [[with(quantity => 0)],             'quantity', 'quantity=0'],
    [[with(quantity => '1.5')],         'quantity', 'quantity=1.5'],
    [[with(quantity => -1)],            'quantity', 'quantity=-1'],
    [[with(quantity => 'abc')],         'quantity', 'quantity=abc'],
    [[with(quantity => 1000000001)],    'quantity', 'quantity=1000000001'],
    [[with(quantity => undef)],         'quantity', 'missing quantity'],
    [[with(date => '2025-02-30')],      'date',     'date=2025-02-30'],
    [[with(date => '2025-13-01')],      'date',     'date=2025-13-01'],
    [[with(date => '20250801')],        'date',     'date=20250801'],
    [[with(client_id => undef)],        'client_id', 'missing client_id'],
    [[with(client_id => 'x')],          'client_id', 'client_id=x'],
    [[with(product_id => undef)],       'product_id', 'missing product_id'],
    [[with(product_id => '1.5')],       'product_id', 'product_id=1.5'],
    [[@ok, colour => 'red'],            'colour',   'unknown parameter'],
) {
    bad_param(price($ua->{token}, @{ $case->[0] }), $case->[1], $case->[2]);
}
priced(price($ua->{token}, @ok), { net_minor => 5000 }, 'the base query is fine');

problem(price($ua->{token}, with(client_id => $cb)), 404, 'not-found', "another AE's client: 404");
problem(price($ub->{token}, @ok), 404, 'not-found', 'B cannot price A client: 404');
problem(price($ua->{token}, with(client_id => 999999)), 404, 'not-found', 'unknown client: 404');
priced(price($mgr->{token}, @ok), { net_minor => 5000, gross_minor => 6050 }, "the manager prices the team's client");
priced(price($ub->{token}, with(client_id => $cb)), { net_minor => 5000, gross_minor => 6050 }, 'B prices own client');
problem(price(undef, @ok), 401, 'unauthorized', 'no token');

# --- POST /prices/quote ---------------------------------------------------------------------------------------
my $q = { client_id => $c1, date => '2025-08-01', lines => [
    { product_id => $p{STD},   quantity => 3 },   # 5000 x 3 = 15000; VAT 3150; gross 18150
    { product_id => $p{R3333}, quantity => 3 },   # 9999; VAT 2099.79 -> 2100; gross 12099
    { product_id => $p{RED},   quantity => 12 },  # 2000 x 12 = 24000; VAT 11 % = 2640; gross 26640
    { product_id => $p{R150},  quantity => 1 },   # 150; VAT 31.5 -> 32; gross 182
    { product_id => $p{R50},   quantity => 1 },   # 50; VAT 10.5 -> 11; gross 61
    { product_id => $p{LOW},   quantity => 1 },   # 1000; reduced_low 11 % = 110; gross 1110
    { product_id => $p{ZERO},  quantity => 1 },   # 7000; VAT 0; gross 7000
] };
$r = $t->api(POST => '/prices/quote', $ua->{token}, $q);
is($r->{status}, 200, 'quote 200') or diag($r->{content});
$j = $r->{json} || {};
is(scalar @{ $j->{lines} || [] }, 7, 'seven lines');
line_is($j->{lines}[0], { net_minor => 15000, vat_minor => 3150, gross_minor => 18150, rate_bp => 2100 }, 'line 0');
line_is($j->{lines}[1], { net_minor => 9999, vat_minor => 2100, gross_minor => 12099, rate_bp => 2100 }, 'line 1');
line_is($j->{lines}[2], { net_minor => 24000, vat_minor => 2640, gross_minor => 26640, rate_bp => 1100,
                          category => 'reduced', min_quantity => 1 }, 'line 2');
line_is($j->{lines}[3], { net_minor => 150, vat_minor => 32, gross_minor => 182 }, 'line 3');
line_is($j->{lines}[4], { net_minor => 50, vat_minor => 11, gross_minor => 61 }, 'line 4');
line_is($j->{lines}[5], { net_minor => 1000, vat_minor => 110, gross_minor => 1110, rate_bp => 1100,
                          category => 'reduced_low' }, 'line 5');
line_is($j->{lines}[6], { net_minor => 7000, vat_minor => 0, gross_minor => 7000, rate_bp => 0, category => 'zero' }, 'line 6');
is_deeply([map { $_->{product_id} } @{ $j->{lines} || [] }], [map { $_->{product_id} } @{ $q->{lines} }], 'lines in order');
is_deeply([map { $_->{quantity} } @{ $j->{lines} || [] }], [3, 3, 12, 1, 1, 1, 1], 'line quantities');
is($j->{lines}[0]{date}, '2025-08-01', 'line date');
is($j->{lines}[0]{client_id}, $c1, 'line client_id');
ok(ref $j->{lines}[0]{explanation} eq 'ARRAY' && @{ $j->{lines}[0]{explanation} }, 'line explanation');
# net 15000 + 9999 + 24000 + 150 + 50 + 1000 + 7000 = 57199
is($j->{totals}{net_minor}, 57199, 'totals net = sum of line nets');
# 0:    net 7000, VAT 0
# 1100: reduced and reduced_low together: net 24000 + 1000 = 25000, VAT 2640 + 110 = 2750
# 2100: net 15000 + 9999 + 150 + 50 = 25199, VAT 3150 + 2100 + 32 + 11 = 5293 (the sum, not 25199 x 0.21 = 5292)
is_deeply([sort { $a->{rate_bp} <=> $b->{rate_bp} } @{ $j->{totals}{vat} || [] }],
          [{ rate_bp => 0,    net_minor => 7000,  vat_minor => 0 },
           { rate_bp => 1100, net_minor => 25000, vat_minor => 2750 },
           { rate_bp => 2100, net_minor => 25199, vat_minor => 5293 }],
          'VAT grouped per rate_bp (not per category), each a sum of lines');
# 0 + 2750 + 5293 = 8043
is($j->{totals}{vat_minor}, 8043, 'totals VAT = sum of line VATs');
# 57199 + 8043 = 65242 = 18150 + 12099 + 26640 + 182 + 61 + 1110 + 7000
is($j->{totals}{gross_minor}, 65242, 'totals gross = sum of line grosses');
is(snapshot(), $snap, 'pricing writes nothing');

$r = $t->api(POST => '/prices/quote', $ua->{token}, { client_id => $c2, date => '2025-08-01', lines => [
    { product_id => $p{STD}, quantity => 10 },    # own list break 3000, Gold 5 %: 28500; VAT 5985; gross 34485
    { product_id => $p{STD}, quantity => 1 },     # 4000 x 0.95 = 3800; VAT 798; gross 4598
] });
is($r->{status}, 200, 'quote with loyalty 200') or diag($r->{content});
$j = $r->{json} || {};
line_is($j->{lines}[0], { list => $own->{id}, net_unit_price_minor => 2850, net_minor => 28500, vat_minor => 5985,
                          gross_minor => 34485 }, 'loyalty line 0');
line_is($j->{lines}[1], { net_unit_price_minor => 3800, net_minor => 3800, vat_minor => 798, gross_minor => 4598 }, 'loyalty line 1');
# net 28500 + 3800 = 32300; VAT 5985 + 798 = 6783; gross 39083
is_deeply($j->{totals}, { net_minor => 32300, vat => [{ rate_bp => 2100, net_minor => 32300, vat_minor => 6783 }],
                          vat_minor => 6783, gross_minor => 39083 }, 'loyalty quote totals');

$r = $t->api(POST => '/prices/quote', $ua->{token}, { client_id => $c1, lines => [{ product_id => $p{STD}, quantity => 1 }] },
             { 'X-Sales-Test-Now' => '2025-07-31T12:00:00Z' });
is($r->{status}, 200, 'quote without date 200');
# today 2025-07-31: 5000 at 19 % = 950; gross 5950
line_is(($r->{json}{lines} || [])->[0] || {}, { rate_bp => 1900, vat_minor => 950, gross_minor => 5950 }, 'quote date defaults to today');
is($r->{json}{totals}{gross_minor}, 5950, 'quote gross 5950');

# Lines that cannot be priced.
for my $case (
    [[{ product_id => $p{STD}, quantity => 1 }, { product_id => $p{NONE}, quantity => 1 }, { product_id => $p{STD}, quantity => 2 }],
     ['#/lines/1/product_id'], 'product not in the list on line 1'],
    [[{ product_id => $p{STD}, quantity => 1 }, { product_id => $p{STD}, quantity => 2 }, { product_id => $p{INACT}, quantity => 1 }],
     ['#/lines/2/product_id'], 'inactive product on line 2'],
    [[{ product_id => $p{B5}, quantity => 4 }],
     ['#/lines/0/product_id'], 'no break at or below the quantity on line 0'],
    [[{ product_id => $p{NONE}, quantity => 1 }, { product_id => $p{STD}, quantity => 1 }, { product_id => $p{INACT}, quantity => 1 }],
     ['#/lines/0/product_id', '#/lines/2/product_id'], 'two bad lines'],
    [[{ product_id => $p{STD}, quantity => 1 }, { product_id => $p{STD}, quantity => 0 }],
     ['#/lines/1/quantity'], 'quantity 0 on line 1'],
    [[{ product_id => $p{STD}, quantity => 1.5 }],
     ['#/lines/0/quantity'], 'quantity 1.5 on line 0'],
    [[{ product_id => $p{STD}, quantity => 1000000001 }],
     ['#/lines/0/quantity'], 'quantity over 10^9 on line 0'],
    [[{ product_id => $p{STD} }],
     ['#/lines/0/quantity'], 'missing quantity on line 0'],
    [[{ product_id => $p{STD}, quantity => 1, discount_bp => 100 }],
     ['#/lines/0/discount_bp'], 'unknown line field'],
) {
    my $r = $t->api(POST => '/prices/quote', $ua->{token}, { client_id => $c1, date => '2025-08-01', lines => $case->[0] });
    invalid($r, 422, 'validation', $case->[1], "quote: $case->[2]");
    ok(ref $r->{json} eq 'HASH' && !exists $r->{json}{lines} && !exists $r->{json}{totals}, "quote: $case->[2]: no lines or totals");
}
invalid($t->api(POST => '/prices/quote', $ua->{token}, { date => '2025-08-01', lines => [{ product_id => $p{STD}, quantity => 1 }] }),
        422, 'validation', ['#/client_id'], 'quote without client_id');
invalid($t->api(POST => '/prices/quote', $ua->{token}, { client_id => $c1, date => '2025-02-30',
                                                       lines => [{ product_id => $p{STD}, quantity => 1 }] }),
        422, 'validation', ['#/date'], 'quote with a bad date');
invalid($t->api(POST => '/prices/quote', $ua->{token}, { client_id => $c1, date => '2025-08-01' }),
        422, 'validation', ['#/lines'], 'quote without lines');
problem($t->api(POST => '/prices/quote', $ua->{token}, { client_id => $c4, date => '2025-08-01',
                                                        lines => [{ product_id => $p{STD}, quantity => 1 }] }),
        422, 'validation', 'quote for an EUR client on the RON default list');
problem($t->api(POST => '/prices/quote', $ua->{token}, { client_id => $cb, date => '2025-08-01',
                                                        lines => [{ product_id => $p{STD}, quantity => 1 }] }),
        404, 'not-found', "quote for another AE's client");
problem($t->api(POST => '/prices/quote', $ua->{token}, '{"client_id":'), 400, 'malformed', 'malformed quote');
is(snapshot(), $snap, 'refused quotes write nothing');

# --- the level's discount is read at pricing time ------------------------------------------------------------------
must($t->api(PATCH => "/loyalty/levels/$gold->{id}", $mgr->{token}, { discount_bp => 700 }), 200, 'Gold 7 %');
$r = price($ua->{token}, client_id => $c2, product_id => $p{STD}, quantity => 10, date => '2025-08-01');
# 3000 x 10 x 9300 / 10000 = 27900; unit 2790; VAT 27900 x 0.21 = 5859; gross 33759
priced($r, { list_unit_price_minor => 3000, net_unit_price_minor => 2790, net_minor => 27900, vat_minor => 5859,
             gross_minor => 33759 }, 'a changed discount applies');
must($t->api(PUT => "/clients/$c2/loyalty", $mgr->{token}, { level_id => undef }), 200, 'clear c2 level');
$r = price($ua->{token}, client_id => $c2, product_id => $p{STD}, quantity => 10, date => '2025-08-01');
# 3000 x 10 = 30000; VAT 6300; gross 36300
priced($r, { net_unit_price_minor => 3000, net_minor => 30000, vat_minor => 6300, gross_minor => 36300 }, 'no level, no discount');
ok(exists $r->{json}{loyalty} && !defined $r->{json}{loyalty}, 'loyalty null after clearing');
must($t->api(PATCH => "/clients/$c3", $mgr->{token}, { price_list_id => undef }), 200, 'c3 back to the default list');
$r = price($ua->{token}, client_id => $c3, product_id => $p{STD}, quantity => 1, date => '2026-01-01');
# default list: 5000; VAT 1050; gross 6050
priced($r, { list => $def->{id}, net_minor => 5000, vat_minor => 1050, gross_minor => 6050 }, 'cleared list: the default applies');

$t->stop;
done_testing;
