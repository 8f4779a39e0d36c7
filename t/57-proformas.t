# Proformas and advances: a proforma for a percentage, an amount or chosen
# lines of an accepted proposal or an order (hand-computed per VAT rate),
# never more than the deal's total, its own series, expiry; paying it
# issues the fiscal advance invoice; the final invoice deducts every
# advance at the advance's own rate, so the final invoice and its advances
# equal the order exactly; credit notes give deductions back.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use SalesTest;
use SalesDocs;

my $t   = SalesTest->new;
my $d   = SalesDocs->new($t);
my $ae  = $t->user('ae');
my $ae2 = $t->user('ae');
$d->{now} = '2026-12-10T09:00:00Z';

sub call { $d->call(@_) }
sub at { my ($now, $code) = @_; local $d->{now} = $now; $code->() }
sub rates { my $doc = shift; [map { [$_->{rate_bp}, $_->{net_minor}, $_->{vat_minor}] } @{ $doc->{vat} || [] }] }
sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        "select group_concat(id || ':' || status || ':' || version, ',') from proformas",
        "select count(*) from invoices", 'select coalesce(sum(last), 0) from number_series',
        $SalesTest::OUTBOX_COUNT, 'select count(*) from audit_log';
}

my $c = $d->client($ae, name => 'Avans SRL');
# std 3 x 100.00 at 21 % (300.00 + 63.00), red 7 x 33.33 at 11 % (233.31 + 25.66): 621.97 in all
sub proposal { $d->accepted_proposal($ae, $c, [[std => 3], [red => 7]]) }

# === the three bases, by hand =================================================================
{
    my $p = proposal();
    is($p->{gross_minor}, 62197, 'fixture: 621.97');

    my $r = call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'percent', percent_bp => 3000 });
    is($r->{status}, 201, 'a 30 % proforma');
    my $pf = $r->{json};
    is($pf->{status}, 'draft', 'draft');
    ok(!defined $pf->{number}, 'no number until issued');
    is_deeply(rates($pf), [[2100, 9000, 1890], [1100, 6999, 770]],
              '30 % of each rate: 90.00 + 18.90 at 21 %, 69.99 + 7.70 at 11 %');
    is($pf->{gross_minor}, 18659, '186.59');
    is($pf->{valid_until}, '2026-12-25', 'valid 15 days by default');
    is(call(DELETE => "/proformas/$pf->{id}", $ae)->{status}, 204, 'a draft is deleted');

    $r = call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'amount', amount_minor => 10000 });
    is($r->{status}, 201, 'a proforma for 100.00');
    is_deeply(rates($r->{json}), [[2100, 4823, 1013], [1100, 3751, 413]],
              '100.00 split by gross per rate: 58.36 = 48.23 + 10.13 at 21 %, 41.64 = 37.51 + 4.13 at 11 %');
    is($r->{json}{gross_minor}, 10000, 'exactly 100.00');
    call(DELETE => "/proformas/$r->{json}{id}", $ae);

    my ($std, $red) = @{ $p->{lines} };
    $r = call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'lines',
                                         lines => [{ line_id => $red->{id} }, { line_id => $std->{id}, quantity => 2 }] });
    is($r->{status}, 201, 'a proforma for chosen lines');
    is_deeply([map { [@$_{qw(quantity net_minor vat_minor)}] } @{ $r->{json}{lines} }], [[7, 23331, 2566], [2, 20000, 4200]],
              'a whole line and two of three');
    call(DELETE => "/proformas/$r->{json}{id}", $ae);

    my $draft = $d->proposal($ae, $c, [[std => 1]]);
    my $before = snapshot();
    invalid(call(POST => '/proformas', $ae, { proposal_id => $p->{id} }), 422, 'validation', ['#/basis'], 'a basis is required');
    invalid(call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'percent' }), 422, 'validation',
            ['#/percent_bp'], 'percent needs percent_bp');
    invalid(call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'percent', percent_bp => 10001 }), 422,
            'validation', ['#/percent_bp'], 'at most 100 %');
    invalid(call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'amount', amount_minor => 62198 }), 422,
            'validation', ['#/amount_minor'], 'more than the total');
    invalid(call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'lines', lines => [{ line_id => 999999 }] }),
            422, 'validation', ['#/lines/0/line_id'], 'a line of another document');
    invalid(call(POST => '/proformas', $ae, { basis => 'percent', percent_bp => 100 }), 422, 'validation', ['#/order_id'],
            'a source is required');
    invalid(call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'percent', percent_bp => 100,
                                            valid_until => '2026-12-01' }), 422, 'validation', ['#/valid_until'],
            'not valid in the past');
    problem(call(POST => '/proformas', $ae, { proposal_id => $draft->{id}, basis => 'percent', percent_bp => 100 }), 409,
            'conflict', 'a proposal not accepted');
    is(snapshot(), $before, 'nothing written');
}

# === never more than the deal's total ==========================================================
{
    my $p = proposal();
    my $a = $d->ok_call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'percent', percent_bp => 6000 }, 201);
    is($a->{gross_minor}, 37319, '60 %: 373.19');
    my $r = call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'percent', percent_bp => 5000 });
    problem($r, 409, 'conflict', '50 % more (310.99) would pass 621.97: refused, not warned');
    like($r->{json}{detail} // '', qr/24878/, 'the answer says what is left (621.97 - 373.19)');
    $d->ok_call(POST => "/proformas/$a->{id}/cancel", $ae, { reason => 'asked for less' });
    $r = call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'percent', percent_bp => 5000 });
    is($r->{status}, 201, 'once the first is cancelled, 50 % fits');
    is(call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'amount', amount_minor => 31098 })->{status}, 201,
       'and the rest to the last ban');
    problem(call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'amount', amount_minor => 1 }), 409,
            'conflict', 'not one ban more');
}

# === issue, pay, the advance invoice; expiry ====================================================
my ($p2, $pf2, $adv);
{
    $p2 = proposal();
    $pf2 = $d->ok_call(POST => '/proformas', $ae, { proposal_id => $p2->{id}, basis => 'percent', percent_bp => 3000 }, 201);
    problem(call(POST => "/proformas/$pf2->{id}/payments", $ae, {}), 409, 'conflict', 'a draft is not paid');
    invalid(call(PATCH => "/proformas/$pf2->{id}", $ae, { valid_until => '2026-12-01' }), 422, 'validation',
            ['#/valid_until'], 'not edited into the past');
    my $r = call(PATCH => "/proformas/$pf2->{id}", $ae, { percent_bp => 2000, terms => 'Plata in 5 zile' });
    is($r->{status}, 200, 'PATCH a draft');
    is_deeply(rates($r->{json}), [[2100, 6000, 1260], [1100, 4666, 513]], '20 %: 60.00 + 12.60, 46.66 + 5.13');
    $r = call(PATCH => "/proformas/$pf2->{id}", $ae, { percent_bp => 3000 });
    $r = call(POST => "/proformas/$pf2->{id}/issue", $ae);
    is($r->{status}, 200, 'issue');
    like($r->{json}{number}, qr/^PF-2026-\d{4}$/, 'its own series: PF-2026-…');
    is($r->{json}{status}, 'issued', 'issued');
    is($r->{json}{issue_date}, '2026-12-10', 'issue date');
    is($t->sql("select count(*) from outbox where type = 'proforma.issued' and subject_id = $pf2->{id}"), 1, 'proforma.issued');
    problem(call(PATCH => "/proformas/$pf2->{id}", $ae, { terms => 'x' }), 409, 'conflict', 'an issued proforma is not edited');
    is($t->sql("select count(*) from invoices where series like 'INV%' or series like 'ADV%'"), 0, 'a proforma is not a fiscal document');
    my $doc = call(GET => "/proformas/$pf2->{id}/document", $ae);
    like($doc->{content}, qr/Factură proformă PF-2026-\d{4}/, 'the document');
    like($doc->{content}, qr/nu este factură fiscală/, 'says it is not a fiscal invoice');

    invalid(call(POST => "/proformas/$pf2->{id}/payments", $ae, { amount_minor => 18660 }), 422, 'validation',
            ['#/amount_minor'], 'more than the proforma');
    $r = call(POST => "/proformas/$pf2->{id}/payments", $ae, { reference => 'OP 77', paid_on => '2026-12-09' });
    is($r->{status}, 201, 'the advance is received');
    $adv = $r->{json}{advance_invoice};
    is($r->{json}{proforma}{status}, 'paid', 'the proforma is paid');
    is($r->{json}{proforma}{advance_invoice_id}, $adv->{id}, 'and names its advance invoice');
    is($adv->{kind}, 'advance', 'a fiscal advance invoice');
    like($adv->{number}, qr/^ADV-2026-000001$/, 'numbered in the advance series');
    is($adv->{issue_date}, '2026-12-09', 'dated the day the money came');
    is($adv->{status}, 'paid', 'paid');
    is_deeply(rates($adv), rates($pf2), "the proforma's amounts at its rates");
    is($adv->{gross_minor}, 18659, '186.59');
    is($r->{json}{payment}{amount_minor}, 18659, 'the payment');
    is($r->{json}{payment}{reference}, 'OP 77', 'its reference');
    for my $ev ('invoice.issued', 'invoice.paid') {
        is($t->sql("select count(*) from outbox where type = '$ev' and subject_id = $adv->{id}"), 1, "$ev for the advance");
    }
    is($t->sql("select count(*) from outbox where type = 'payment.received'"), 1, 'payment.received');
    problem(call(POST => "/proformas/$pf2->{id}/payments", $ae, {}), 409, 'conflict', 'paid once');

    # An amount paid in part: split by the proforma's rates.
    my $p3 = proposal();
    my $pf3 = $d->ok_call(POST => '/proformas', $ae, { proposal_id => $p3->{id}, basis => 'amount', amount_minor => 10000 }, 201);
    $d->ok_call(POST => "/proformas/$pf3->{id}/issue", $ae);
    $r = call(POST => "/proformas/$pf3->{id}/payments", $ae, { amount_minor => 6000 });
    is($r->{status}, 201, 'paid in part');
    is_deeply(rates($r->{json}{advance_invoice}), [[2100, 2894, 608], [1100, 2250, 248]],
              '60.00 split: 35.02 = 28.94 + 6.08 at 21 %, 24.98 = 22.50 + 2.48 at 11 %');
    is($r->{json}{proforma}{paid_minor}, 6000, 'the proforma: what was paid');
    is(call(POST => '/proformas', $ae, { proposal_id => $p3->{id}, basis => 'amount', amount_minor => 56197 })->{status}, 201,
       'the unpaid rest of a paid proforma is free again');

    # Expiry: an issued proforma past its validity reads expired and is not paid.
    my $p4 = proposal();
    my $pf4 = $d->ok_call(POST => '/proformas', $ae, { proposal_id => $p4->{id}, basis => 'percent', percent_bp => 1000,
                                                     valid_until => '2026-12-20' }, 201);
    $d->ok_call(POST => "/proformas/$pf4->{id}/issue", $ae);
    at('2026-12-21T09:00:00Z', sub {
        is(must(call(GET => "/proformas/$pf4->{id}", $ae), 200, 'get')->{status}, 'expired', 'past its validity: expired');
        my $l = must(call(GET => '/proformas?status=expired', $ae), 200, 'list');
        is_deeply([map { $_->{id} } @{ $l->{items} }], [$pf4->{id}], 'the expired filter');
        problem(call(POST => "/proformas/$pf4->{id}/payments", $ae, {}), 409, 'conflict', 'an expired proforma is not paid');
        is(call(POST => '/proformas', $ae, { proposal_id => $p4->{id}, basis => 'percent', percent_bp => 10000 })->{status}, 201,
           'an expired proforma commits nothing');
        is(must(call(POST => "/proformas/$pf4->{id}/cancel", $ae, { reason => 'expired' }), 200, 'cancel')->{status}, 'cancelled',
           'an expired one can be cancelled');
    });
}

# === the final invoice deducts the advance exactly ===============================================
{
    my $o = $d->order_from($ae, $p2);
    my $pf = must(call(GET => "/proformas/$pf2->{id}", $ae), 200, 'proforma');
    is($pf->{order_id}, $o->{id}, "the proposal's proforma follows its order");
    my $final = $d->invoice($ae, $o);
    my @ded = grep { $_->{deducted_invoice_id} } @{ $final->{lines} };
    is(scalar @ded, 2, 'two deduction lines: one per rate of the advance');
    is_deeply([map { [@$_{qw(rate_bp net_minor vat_minor deducted_invoice_id)}] } @ded],
              [[2100, -9000, -1890, $adv->{id}], [1100, -6999, -770, $adv->{id}]], "each at the advance's own rate, negative");
    like($ded[0]{description}, qr/\Q$adv->{number}\E/, 'naming the advance');
    is($final->{net_minor}, 53331 - 15999, 'net: 533.31 - 159.99');
    is($final->{vat_minor}, 8866 - 2660, 'VAT: 88.66 - 26.60');
    is($final->{gross_minor}, 43538, 'gross: 435.38');
    my %sum;
    for my $doc ($final, $adv) {
        my $r = SalesDocs::per_rate($doc);
        for my $rate (keys %$r) { $sum{$rate}[0] += $r->{$rate}[0]; $sum{$rate}[1] += $r->{$rate}[1] }
    }
    is_deeply(\%sum, SalesDocs::per_rate($o), 'the final invoice and its advance equal the order, per rate, net and VAT');
    is($final->{gross_minor} + $adv->{gross_minor}, $o->{gross_minor}, 'and in total');

    # A storno of the final invoice gives the deduction back; the next final deducts again.
    problem(call(POST => "/invoices/$adv->{id}/credit-notes", $ae, { reason => 'refund' }), 409, 'conflict',
            'a deducted advance is not credited before the final invoice');
    my $cn = must(call(POST => "/invoices/$final->{id}/credit-notes", $ae, { reason => 'wrong address' }), 201, 'storno');
    is($cn->{gross_minor}, -43538, 'the storno, whole');
    my @back = grep { $_->{deducted_invoice_id} } @{ $cn->{lines} };
    is_deeply([map { [@$_{qw(net_minor vat_minor)}] } @back], [[9000, 1890], [6999, 770]], 'gives the deductions back');
    my $again = $d->invoice($ae, $o);
    is($again->{gross_minor}, 43538, 'the new final invoice deducts the advance again');
    is_deeply([map { $_->{deducted_invoice_id} } grep { $_->{deducted_invoice_id} } @{ $again->{lines} }],
              [$adv->{id}, $adv->{id}], 'the same advance');
    ok(must(call(GET => '/invoices/verify', $t->{admin}), 200, 'verify')->{intact}, 'every series proves itself');
}

# === a partial invoice may not leave less than the advances ========================================
{
    my $p = proposal();
    my $pf = $d->ok_call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'percent', percent_bp => 9000 }, 201);
    $d->ok_call(POST => "/proformas/$pf->{id}/issue", $ae);
    $d->ok_call(POST => "/proformas/$pf->{id}/payments", $ae, {}, 201);
    my $o = $d->order_from($ae, $p);
    my $r = call(POST => '/invoices', $ae, { order_id => $o->{id}, lines => [{ order_line_id => $o->{lines}[0]{id} }] });
    problem($r, 409, 'conflict', 'invoicing 363.00 of the order with 559.77 paid in advance would pass its total');
    $r = call(POST => '/invoices', $ae, { order_id => $o->{id} });
    is($r->{status}, 201, 'the whole rest at once is fine');
    is($r->{json}{gross_minor}, 62197 - $pf->{gross_minor}, 'and deducts the advance');

    # From an order made directly: a proforma of the order, deducted the same way.
    my $o2 = $d->ok_call(POST => '/orders', $ae, { client_id => $c->{id}, lines => $d->lines([[std => 1]]) }, 201);
    $d->ok_call(POST => "/orders/$o2->{id}/confirm", $ae);
    my $pfo = $d->ok_call(POST => '/proformas', $ae, { order_id => $o2->{id}, basis => 'percent', percent_bp => 5000 }, 201);
    is($pfo->{gross_minor}, 6050, '50 % of 121.00');
    $d->ok_call(POST => "/proformas/$pfo->{id}/issue", $ae);
    my $paid = $d->ok_call(POST => "/proformas/$pfo->{id}/payments", $ae, {}, 201);
    my $fin = $d->invoice($ae, $o2);
    is($fin->{gross_minor}, 6050, 'the final invoice: the other half');
    is($fin->{gross_minor} + $paid->{advance_invoice}{gross_minor}, 12100, 'and with the advance, the order');
    # An open proforma is closed by the final invoice.
    my $o3 = $d->ok_call(POST => '/orders', $ae, { client_id => $c->{id}, lines => $d->lines([[std => 1]]) }, 201);
    $d->ok_call(POST => "/orders/$o3->{id}/confirm", $ae);
    my $open = $d->ok_call(POST => '/proformas', $ae, { order_id => $o3->{id}, basis => 'percent', percent_bp => 5000 }, 201);
    $d->ok_call(POST => "/proformas/$open->{id}/issue", $ae);
    $d->invoice($ae, $o3);
    is(must(call(GET => "/proformas/$open->{id}", $ae), 200, 'get')->{status}, 'cancelled',
       'an unpaid proforma is closed when the order is invoiced in full');
}

# === the edges =======================================================================================
{
    # An order paid in full in advance: the final invoice is 0 and paid; a
    # partial credit note of it leaves it open to a whole storno, after which
    # the advance is free to credit and the order to cancel.
    my $p = proposal();
    my $pf = $d->ok_call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'percent', percent_bp => 10000 }, 201);
    $d->ok_call(POST => "/proformas/$pf->{id}/issue", $ae);
    my $adv1 = $d->ok_call(POST => "/proformas/$pf->{id}/payments", $ae, {}, 201)->{advance_invoice};
    my $o = $d->order_from($ae, $p);
    my $fin = $d->invoice($ae, $o);
    is($fin->{gross_minor}, 0, 'the final invoice of an order paid in advance is 0');
    is($fin->{status}, 'paid', 'and paid when issued');
    my $cn = $d->ok_call(POST => "/invoices/$fin->{id}/credit-notes", $ae,
                         { reason => 'one returned', lines => [{ invoice_line_id => $fin->{lines}[0]{id}, quantity => 1 }] }, 201);
    is($cn->{refund_minor}, 12100, 'one returned: 121.00 owed back');
    my $f = must(call(GET => "/invoices/$fin->{id}", $ae), 200, 'final');
    isnt($f->{status}, 'credited', 'a partial credit note does not make it credited');
    is($f->{balance_minor}, 0, 'its balance is not below zero');
    $d->ok_call(POST => "/invoices/$fin->{id}/credit-notes", $ae, { reason => 'all returned' }, 201);
    is(must(call(GET => "/invoices/$fin->{id}", $ae), 200, 'final')->{status}, 'credited', 'a whole storno of the rest');
    $d->ok_call(POST => "/invoices/$adv1->{id}/credit-notes", $ae, { reason => 'refund' }, 201);
    is(must(call(POST => "/orders/$o->{id}/cancel", $ae, { reason => 'cancelled' }), 200, 'cancel')->{status}, 'cancelled',
       'and the order can be cancelled');

    # A draft order does not shrink below its advances.
    my $dro = $d->ok_call(POST => '/orders', $ae, { client_id => $c->{id}, lines => $d->lines([[std => 10]]) }, 201);
    my $pfd = $d->ok_call(POST => '/proformas', $ae, { order_id => $dro->{id}, basis => 'percent', percent_bp => 5000 }, 201);
    $d->ok_call(POST => "/proformas/$pfd->{id}/issue", $ae);
    invalid(call(POST => "/proformas/$pfd->{id}/payments", $ae, { amount_minor => '100' }), 422, 'validation',
            ['#/amount_minor'], 'an amount that is not a number is refused, not taken as the whole');
    invalid(call(POST => "/proformas/$pfd->{id}/payments", $ae, { paid_on => 'garbage' }), 422, 'validation',
            ['#/paid_on'], 'a bad paid_on is named as itself');
    $d->ok_call(POST => "/proformas/$pfd->{id}/payments", $ae, {}, 201);
    problem(call(PATCH => "/orders/$dro->{id}", $ae, { lines => $d->lines([[std => 1]]) }), 409, 'conflict',
            'a draft order is not cut below what its advance paid');
    is(call(PATCH => "/orders/$dro->{id}", $ae, { lines => $d->lines([[std => 5]]) })->{status}, 200, 'down to it is fine');

    # An order on hold takes no advance.
    my $oh = $d->ok_call(POST => '/orders', $ae, { client_id => $c->{id}, lines => $d->lines([[std => 2]]) }, 201);
    $d->ok_call(POST => "/orders/$oh->{id}/confirm", $ae);
    my $pfh = $d->ok_call(POST => '/proformas', $ae, { order_id => $oh->{id}, basis => 'percent', percent_bp => 5000 }, 201);
    $d->ok_call(POST => "/proformas/$pfh->{id}/issue", $ae);
    $d->ok_call(POST => "/orders/$oh->{id}/hold", $ae);
    my $before = snapshot();
    problem(call(POST => "/proformas/$pfh->{id}/payments", $ae, {}), 409, 'conflict', 'no advance invoice while the order is held');
    is(snapshot(), $before, 'nothing written');
}

# === who sees what =================================================================================
{
    for my $req ([GET => "/proformas/$pf2->{id}"], [PATCH => "/proformas/$pf2->{id}", {}], [POST => "/proformas/$pf2->{id}/issue"],
                 [POST => "/proformas/$pf2->{id}/payments", {}], [POST => "/proformas/$pf2->{id}/cancel", { reason => 'x' }],
                 [GET => "/proformas/$pf2->{id}/document"], [DELETE => "/proformas/$pf2->{id}"]) {
        my ($m, $path, $body) = @$req;
        is(call($m, $path, $ae2, $body)->{status}, 404, "another AE: $m $path is 404");
    }
    is(scalar @{ must(call(GET => '/proformas', $ae2), 200, 'list')->{items} }, 0, 'another AE lists none');
    invalid(call(POST => '/proformas', $ae2, { proposal_id => $p2->{id}, basis => 'percent', percent_bp => 100 }), 422,
            'validation', ['#/proposal_id'], "another AE's proposal");
}

$t->stop;
done_testing;
