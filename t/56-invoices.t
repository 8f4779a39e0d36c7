# Invoices: drafts without numbers, issuing with gapless numbers per series
# and year (also under 100 concurrent issues over two workers), the
# chronological guard, the hash chain and its proof (and tampering found
# by it), exact partial invoicing, payments, overdue, credit notes, a
# foreign currency with its VAT in RON, the printed document, isolation.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use SalesTest;
use SalesDocs;

my $t   = SalesTest->new(workers => 2);
my $adm = $t->{admin};
my $d   = SalesDocs->new($t);
my $mgr = $t->user('manager');
my $ae  = $t->user('ae', manager_id => $mgr->{id});
my $ae2 = $t->user('ae');
$d->{now} = '2026-12-10T09:00:00Z';

sub call { $d->call(@_) }
sub at { my ($now, $code) = @_; local $d->{now} = $now; $code->() }
sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        "select group_concat(id || ':' || status || ':' || version || ':' || coalesce(number, '-'), ',') from invoices",
        'select count(*) from invoice_lines', 'select coalesce(sum(last), 0) from number_series',
        'select count(*) from payments', $SalesTest::OUTBOX_COUNT, 'select count(*) from audit_log';
}
sub verify { must(call(GET => '/invoices/verify', $adm), 200, 'verify') }
sub seq_of { ($_[0]{number} // '') =~ /-(\d+)$/ ? $1 + 0 : -1 }

my $c = $d->client($ae, name => 'Facturat SRL', payment_terms_days => 30);

sub order_of {
    my ($spec, $client) = @_;
    my $o = $d->ok_call(POST => '/orders', $ae, { client_id => ($client // $c)->{id}, lines => $d->lines($spec) }, 201);
    return $d->ok_call(POST => "/orders/$o->{id}/confirm", $ae);
}

# === a draft, then issued ======================================================================
my ($first, $order);
{
    $order = order_of([[odd => 3], [red => 7]]);
    my ($odd, $red) = @{ $order->{lines} };
    is($odd->{net_minor}, 37035, 'fixture: 3 x 123.45');
    is($odd->{vat_minor}, 7777, 'fixture: 21 % of 370.35 = 77.77');
    is($red->{net_minor}, 23331, 'fixture: 7 x 33.33');
    is($red->{vat_minor}, 2566, 'fixture: 11 % of 233.31 = 25.66');

    my $r = call(POST => '/invoices', $ae, { order_id => $order->{id},
                                           lines => [{ order_line_id => $odd->{id}, quantity => 1 },
                                                     { order_line_id => $red->{id}, quantity => 2 }] });
    is($r->{status}, 201, 'a draft: 201');
    my $dr = $r->{json};
    is($dr->{status}, 'draft', 'draft');
    ok(!defined $dr->{number} && !defined $dr->{series} && !defined $dr->{hash}, 'no number, series or hash yet');
    is($dr->{kind}, 'invoice', 'kind invoice');
    is($dr->{lines}[0]{net_minor}, 12345, 'one of three: 123.45');
    is($dr->{lines}[0]{vat_minor}, 2592, 'VAT on the part: 25.92');
    is($dr->{lines}[1]{net_minor}, 6666, 'two of seven: 66.66');
    is($dr->{lines}[1]{vat_minor}, 733, 'VAT on the part: 7.33');
    is($dr->{lines}[0]{order_line_id}, $odd->{id}, 'each line names its order line');

    my $before = snapshot();
    invalid(call(POST => "/invoices/$dr->{id}/issue", $ae, { issue_date => '2026-12-11' }), 422, 'validation',
            ['#/issue_date'], 'an issue date after today');
    invalid(call(POST => "/invoices/$dr->{id}/issue", $ae, { exchange_rate => '4.9' }), 422, 'validation',
            ['#/exchange_rate'], 'a RON invoice takes no exchange rate');
    invalid(call(POST => "/invoices/$dr->{id}/issue", $ae, { issue_date => 'soon', colour => 1 }), 422, 'validation',
            ['#/colour', '#/issue_date'], 'unknown fields and a bad date named');
    is(snapshot(), $before, 'a failed issue writes nothing and takes no number');

    $r = call(POST => "/invoices/$dr->{id}/issue", $ae, {});
    is($r->{status}, 200, 'issue');
    $first = $r->{json};
    is($first->{number}, 'INV-2026-000001', 'the first number of the series and year');
    is($first->{series}, 'INV-2026', 'series');
    is($first->{seq}, 1, 'seq');
    is($first->{issue_date}, '2026-12-10', 'issued today');
    is($first->{due_date}, '2027-01-09', "due after the client's 30 days");
    is($first->{status}, 'issued', 'issued');
    is($first->{prev_hash}, '0' x 64, 'the first of its series chains to zeros');
    like($first->{hash}, qr/^[0-9a-f]{64}$/, 'its hash');
    is($first->{gross_minor}, 12345 + 2592 + 6666 + 733, 'gross');
    is($first->{balance_minor}, $first->{gross_minor}, 'all of it to pay');
    is($t->sql("select count(*) from outbox where type = 'invoice.issued' and subject_id = $first->{id}"), 1, 'invoice.issued');
    problem(call(POST => "/invoices/$first->{id}/issue", $ae, {}), 409, 'conflict', 'issued once');
    problem(call(PATCH => "/invoices/$first->{id}", $ae, { notes => 'x' }), 409, 'conflict', 'an issued invoice is never edited');
    problem(call(DELETE => "/invoices/$first->{id}", $ae), 409, 'conflict', 'nor deleted');

    my $o = must(call(GET => "/orders/$order->{id}", $ae), 200, 'order');
    is($o->{status}, 'partially_invoiced', 'the order: partially invoiced');
    is_deeply([map { $_->{invoiced_quantity} } @{ $o->{lines} }], [1, 2], 'invoiced quantities per line');
}

# === partial invoices add up to the order exactly ================================================
{
    my $o = must(call(GET => "/orders/$order->{id}", $ae), 200, 'order');
    my ($odd, $red) = @{ $o->{lines} };
    invalid(call(POST => '/invoices', $ae, { order_id => $order->{id}, lines => [{ order_line_id => $odd->{id}, quantity => 3 }] }),
            422, 'validation', ['#/lines/0/quantity'], 'more than is left of a line');
    invalid(call(POST => '/invoices', $ae, { order_id => $order->{id}, lines => [{ order_line_id => 999999 }] }),
            422, 'validation', ['#/lines/0/order_line_id'], 'a line of another order');
    my $i2 = $d->invoice($ae, $o, [[$odd->{id}, 1], [$red->{id}, 2]]);
    is(seq_of($i2), 2, 'the next number');
    my $i3 = $d->invoice($ae, $o);
    is(seq_of($i3), 3, 'and the next');
    is($i3->{lines}[0]{net_minor}, 12345, 'the last part of 370.35: 123.45');
    is($i3->{lines}[0]{vat_minor}, 2593, 'its VAT is what is left: 77.77 - 2 x 25.92 = 25.93');
    is($i3->{lines}[1]{net_minor}, 9999, 'the last three of 233.31: 99.99');
    is($i3->{lines}[1]{vat_minor}, 1100, 'VAT left: 25.66 - 2 x 7.33 = 11.00');
    my (%net, %vat);
    for my $inv ($first, $i2, $i3) {
        for my $l (@{ $inv->{lines} }) { $net{ $l->{order_line_id} } += $l->{net_minor}; $vat{ $l->{order_line_id} } += $l->{vat_minor} }
    }
    is_deeply([@net{ $odd->{id}, $red->{id} }], [37035, 23331], 'the parts add up to each line, net');
    is_deeply([@vat{ $odd->{id}, $red->{id} }], [7777, 2566], 'and VAT');
    is($first->{gross_minor} + $i2->{gross_minor} + $i3->{gross_minor}, $o->{gross_minor}, 'the invoices add up to the order');
    is(must(call(GET => "/orders/$order->{id}", $ae), 200, 'order')->{status}, 'invoiced', 'the order: invoiced');
    problem(call(POST => '/invoices', $ae, { order_id => $order->{id} }), 409, 'conflict', 'nothing left to invoice');
    $order->{invoices} = [$first, $i2, $i3];
}

# === the chronological guard ===================================================================
{
    my $o = order_of([[std => 1]]);
    my $dr = $d->ok_call(POST => '/invoices', $ae, { order_id => $o->{id} }, 201);
    my $last = $t->sql("select max(seq) from invoices where series = 'INV-2026'");
    at('2026-12-12T09:00:00Z', sub {
        my $x = $d->ok_call(POST => '/invoices', $ae, { order_id => order_of([[std => 1]])->{id} }, 201);
        $d->ok_call(POST => "/invoices/$x->{id}/issue", $ae, {});
    });
    my $before = snapshot();
    at('2026-12-13T09:00:00Z', sub {
        invalid(call(POST => "/invoices/$dr->{id}/issue", $ae, { issue_date => '2026-12-11' }), 422, 'validation',
                ['#/issue_date'], 'an issue date before the last of the series');
        my $r = call(POST => "/invoices/$dr->{id}/issue", $ae, { issue_date => '2026-12-12' });
        is($r->{status}, 200, 'the same day as the last is fine');
        is(seq_of($r->{json}), $last + 2, 'the refused issue took no number');
    });
    isnt(snapshot(), $before, '(the last issue wrote)');
}

# From here on the series' last issue date is 2026-12-13.
$d->{now} = '2026-12-14T09:00:00Z';

# === a new year starts a new series ==============================================================
{
    at('2027-01-02T09:00:00Z', sub {
        my $i = $d->invoice($ae, order_of([[std => 1]]));
        is($i->{number}, 'INV-2027-000001', 'a new year, number 1');
        is($i->{prev_hash}, '0' x 64, 'its own chain');
    });
}

# === 100 issues at once over two workers: 1..100, no gap, no twice ================================
{
    my $now = '2028-03-01T09:00:00Z';
    my (@drafts, $o);
    at($now, sub {
        $o = order_of([map { [std => 1] } 1 .. 100]);
        for my $l (@{ $o->{lines} }) {
            push @drafts, $d->ok_call(POST => '/invoices', $ae, { order_id => $o->{id},
                                                               lines => [{ order_line_id => $l->{id} }] }, 201)->{id};
        }
    });
    my @res = $t->parallel(10, sub {
        my $i = shift;
        local $d->{now} = $now;
        my @got;
        for my $k (0 .. 9) {
            my $id = $drafts[$i * 10 + $k];
            # a refused issue in between: it must take no number
            my $bad = call(POST => "/invoices/$id/issue", $ae, { issue_date => '2028-03-02' });
            my $r = call(POST => "/invoices/$id/issue", $ae, {});
            push @got, { bad => $bad->{status}, status => $r->{status}, number => ($r->{json} || {})->{number} };
        }
        return \@got;
    });
    my @all = map { @$_ } @res;
    is(scalar(grep { ($_->{status} // 0) == 200 } @all), 100, 'all 100 issued');
    is(scalar(grep { ($_->{bad} // 0) == 422 } @all), 100, 'the 100 refused ones refused');
    my @seq = sort { $a <=> $b } map { ($_->{number} // '') =~ /^INV-2028-(\d{6})$/ ? $1 + 0 : () } @all;
    is_deeply(\@seq, [1 .. 100], 'numbers 1 to 100: no gap, no duplicate');
    is($t->sql("select count(distinct number) from invoices where series = 'INV-2028'"), 100, '100 distinct numbers stored');
    my $v = verify();
    ok($v->{intact}, 'and the chain proves itself') or diag(explain($v->{problems}));
    my ($s) = grep { $_->{series} eq 'INV-2028' } @{ $v->{series} };
    is($s->{count}, 100, 'the series has 100');
}

# === the hash chain, and tampering found ===========================================================
{
    my $v = verify();
    ok($v->{intact}, 'intact before');
    cmp_ok($v->{documents}, '>=', 105, 'every issued document is read');
    my ($i1, $i2) = @{ $order->{invoices} };
    my $line = $i2->{lines}[0]{id};

    $t->sql("UPDATE invoice_lines SET net_minor = net_minor + 1 WHERE id = $line");
    $v = verify();
    ok(!$v->{intact}, 'an edited line is found');
    my @p = grep { ($_->{number} // '') eq $i2->{number} } @{ $v->{problems} };
    ok(@p && $p[0]{problem} =~ /content does not match/, 'named: the invoice whose content changed') or diag(explain($v->{problems}));
    is(scalar @{ $v->{problems} }, 1, 'and only it');
    $t->sql("UPDATE invoice_lines SET net_minor = net_minor - 1 WHERE id = $line");
    ok(verify()->{intact}, 'intact again once restored');

    $t->sql("UPDATE invoices SET gross_minor = gross_minor - 100 WHERE id = $i1->{id}");
    ok(!verify()->{intact}, 'an edited total is found');
    $t->sql("UPDATE invoices SET gross_minor = gross_minor + 100 WHERE id = $i1->{id}");

    my $h = $t->sql("SELECT hash FROM invoices WHERE id = $i1->{id}");
    $t->sql("UPDATE invoices SET hash = '" . ('a' x 64) . "' WHERE id = $i1->{id}");
    $v = verify();
    my %named = map { $_->{number} => $_->{problem} } @{ $v->{problems} };
    ok($named{ $i1->{number} } && $named{ $i2->{number} }, 'a replaced hash: the invoice and the next one are named')
        or diag(explain($v->{problems}));
    $t->sql("UPDATE invoices SET hash = '$h' WHERE id = $i1->{id}");
    ok(verify()->{intact}, 'restored');

    my $saved = $t->sql("SELECT * FROM invoices WHERE id = $i2->{id}");
    $t->sql("PRAGMA foreign_keys = OFF; UPDATE invoices SET number = 'INV-2026-000099' WHERE id = $i2->{id}");
    ok(!verify()->{intact}, 'a renumbered invoice is found');
    $t->sql("UPDATE invoices SET number = '$i2->{number}' WHERE id = $i2->{id}");
    $t->sql("UPDATE invoices SET status = 'draft' WHERE id = $i2->{id}");
    $v = verify();
    ok((grep { ($_->{problem} // '') =~ /missing/ } @{ $v->{problems} }), 'a number taken out of the series is missing')
        or diag(explain($v->{problems}));
    $t->sql("UPDATE invoices SET status = 'issued' WHERE id = $i2->{id}");
    ok(verify()->{intact}, 'restored');

    # The last of a series taken away: the series' own counter shows it.
    my ($last) = sort { $b->{seq} <=> $a->{seq} } @{ must(call(GET => '/invoices?kind=invoice&limit=200', $adm), 200, 'all')->{items} };
    my $series = $last->{series};
    $t->sql("UPDATE invoices SET status = 'draft' WHERE id = $last->{id}");
    $v = verify();
    ok(!$v->{intact}, 'the last document of a series taken away is found');
    ok((grep { ($_->{number} // '') eq $series && $_->{problem} =~ /missing/ } @{ $v->{problems} }), 'named by its series')
        or diag(explain($v->{problems}));
    $t->sql("UPDATE invoices SET status = 'issued' WHERE id = $last->{id}");
    ok(verify()->{intact}, 'restored');
    problem(call(GET => '/invoices/verify', $ae), 403, 'forbidden', 'an AE does not run the proof');
    is(call(GET => '/invoices/verify', $mgr)->{status}, 200, 'a manager does');
}

# === payments ======================================================================================
{
    my $inv = $order->{invoices}[0];
    my $before = snapshot();
    invalid(call(POST => "/invoices/$inv->{id}/payments", $ae, { amount_minor => $inv->{gross_minor} + 1 }), 422,
            'validation', ['#/amount_minor'], 'an overpayment is refused');
    invalid(call(POST => "/invoices/$inv->{id}/payments", $ae, { amount_minor => 0, method => 'barter',
                                                               paid_on => '2026-12-15' }), 422, 'validation',
            ['#/amount_minor', '#/method', '#/paid_on'], 'amount, method and a future date named');
    invalid(call(POST => "/invoices/$inv->{id}/payments", $ae, { amount_minor => 100, paid_on => '2026-12-01' }), 422,
            'validation', ['#/paid_on'], 'a payment before the issue date');
    is(snapshot(), $before, 'refused payments write nothing');

    my $r = call(POST => "/invoices/$inv->{id}/payments", $ae, { amount_minor => 10000, reference => 'OP 12',
                                                               method => 'bank_transfer' });
    is($r->{status}, 201, 'a partial payment');
    like($r->{headers}{location} // '', qr{/payments/$r->{json}{id}$}, 'Location');
    is($r->{json}{amount_minor}, 10000, 'the amount');
    is($r->{json}{paid_on}, '2026-12-14', 'today by default');
    my $i = must(call(GET => "/invoices/$inv->{id}", $ae), 200, 'invoice');
    is($i->{status}, 'partially_paid', 'partially paid');
    is($i->{paid_minor}, 10000, 'paid so far');
    is($i->{balance_minor}, $inv->{gross_minor} - 10000, 'the balance');
    invalid(call(POST => "/invoices/$inv->{id}/payments", $ae, { amount_minor => $i->{balance_minor} + 1 }), 422,
            'validation', ['#/amount_minor'], 'more than the balance');
    $r = call(POST => "/invoices/$inv->{id}/payments", $ae, { amount_minor => $i->{balance_minor}, method => 'card' });
    is($r->{status}, 201, 'the rest');
    $i = must(call(GET => "/invoices/$inv->{id}", $ae), 200, 'invoice');
    is($i->{status}, 'paid', 'paid');
    is($i->{balance_minor}, 0, 'nothing left');
    like($i->{paid_at} // '', qr/^\d{4}-/, 'paid_at');
    is($t->sql("select count(*) from outbox where type = 'payment.received' and json_extract(payload, '\$.data.invoice.id') = $inv->{id}"),
       2, 'payment.received twice');
    is($t->sql("select count(*) from outbox where type = 'invoice.paid' and subject_id = $inv->{id}"), 1, 'invoice.paid once');
    problem(call(POST => "/invoices/$inv->{id}/payments", $ae, { amount_minor => 1 }), 409, 'conflict', 'a paid invoice');
    my $list = must(call(GET => "/invoices/$inv->{id}/payments", $ae), 200, 'payments');
    is_deeply([map { $_->{amount_minor} } @{ $list->{items} }], [10000, $inv->{gross_minor} - 10000], 'its payments');
    my $pay = must(call(GET => "/payments/$list->{items}[0]{id}", $ae), 200, 'a payment');
    is($pay->{reference}, 'OP 12', 'with its reference');
    is(call(GET => "/payments/$pay->{id}", $ae2)->{status}, 404, "another AE's payment: 404");
    my $dr = $d->ok_call(POST => '/invoices', $ae, { order_id => order_of([[std => 1]])->{id} }, 201);
    problem(call(POST => "/invoices/$dr->{id}/payments", $ae, { amount_minor => 1 }), 409, 'conflict', 'a draft is not paid');
}

# === overdue ======================================================================================
{
    my ($paid, $open) = @{ $order->{invoices} }[0, 1];
    at('2027-01-20T09:00:00Z', sub {
        my $l = must(call(GET => "/invoices?overdue=true&client_id=$c->{id}&limit=200", $ae), 200, 'overdue');
        my %ids = map { $_->{id} => $_ } @{ $l->{items} };
        ok($ids{ $open->{id} }, 'an unpaid invoice past its due date is overdue');
        is($ids{ $open->{id} }{days_overdue}, 11, 'by 11 days (due 2027-01-09)');
        ok(!$ids{ $paid->{id} }, 'a paid one is not');
        my $g = must(call(GET => "/invoices/$open->{id}", $ae), 200, 'get');
        ok($g->{overdue}, 'overdue: true on the invoice');
        my $n = must(call(GET => "/invoices?overdue=false&client_id=$c->{id}&limit=200", $ae), 200, 'not overdue');
        ok((grep { $_->{id} == $paid->{id} } @{ $n->{items} }) && !(grep { $_->{id} == $open->{id} } @{ $n->{items} }),
           'overdue=false is the rest');
    });
    at('2027-01-09T09:00:00Z', sub {
        my $l = must(call(GET => "/invoices?overdue=true&client_id=$c->{id}&limit=200", $ae), 200, 'overdue');
        ok(!(grep { $_->{id} == $open->{id} } @{ $l->{items} }), 'not on its due date itself');
    });
    problem(call(GET => '/invoices?overdue=maybe', $ae), 400, 'malformed', 'overdue must be true or false');
}

# === credit notes ===================================================================================
{
    my $o = order_of([[std => 3], [red => 2]]);
    my $inv = $d->invoice($ae, $o);
    my ($std, $red) = @{ $inv->{lines} };
    my $before = snapshot();
    invalid(call(POST => "/invoices/$inv->{id}/credit-notes", $ae, {}), 422, 'validation', ['#/reason'], 'a reason is required');
    invalid(call(POST => "/invoices/$inv->{id}/credit-notes", $ae, { reason => 'x',
                                                                    lines => [{ invoice_line_id => $std->{id}, quantity => 4 }] }),
            422, 'validation', ['#/lines/0/quantity'], 'more than the line');
    is(snapshot(), $before, 'refused credit notes write nothing');

    invalid(call(POST => "/invoices/$inv->{id}/credit-notes", $ae, { reason => 'x', issue_date => '2026-12-01' }), 422,
            'validation', ['#/issue_date'], 'a credit note dated before the invoice it corrects');
    my $r = call(POST => "/invoices/$inv->{id}/credit-notes", $ae,
                 { reason => 'one returned', lines => [{ invoice_line_id => $std->{id}, quantity => 1 }] });
    is($r->{status}, 201, 'a partial credit note');
    my $cn = $r->{json};
    like($cn->{number}, qr/^CN-2026-\d{6}$/, 'its own series');
    is($cn->{kind}, 'credit_note', 'kind');
    is($cn->{credit_of_id}, $inv->{id}, 'refers to the original');
    is($cn->{reason}, 'one returned', 'reason');
    is($cn->{lines}[0]{quantity}, -1, 'negative quantity');
    is($cn->{lines}[0]{net_minor}, -10000, 'negative: one of three at 100.00');
    is($cn->{lines}[0]{vat_minor}, -2100, 'and its VAT');
    is($cn->{gross_minor}, -12100, 'negative total');
    is($cn->{refund_minor}, 0, 'an unpaid invoice: nothing to pay back');
    is($cn->{lines}[0]{credited_line_id}, $std->{id}, 'names the line it credits');
    my $i = must(call(GET => "/invoices/$inv->{id}", $ae), 200, 'original');
    is($i->{credited_minor}, 12100, 'the original: credited so far');
    is($i->{balance_minor}, $inv->{gross_minor} - 12100, 'less to pay');
    is($i->{status}, 'issued', 'still issued');
    is(must(call(GET => "/orders/$o->{id}", $ae), 200, 'order')->{lines}[0]{invoiced_quantity}, 2, 'the order has one back');
    is($t->sql("select count(*) from outbox where type = 'credit_note.issued' and subject_id = $cn->{id}"), 1, 'credit_note.issued');

    must(call(POST => "/invoices/$inv->{id}/payments", $ae, { amount_minor => $i->{balance_minor} }), 201, 'pay the rest');
    $r = call(POST => "/invoices/$inv->{id}/credit-notes", $ae, { reason => 'all returned' });
    is($r->{status}, 201, 'a storno of the rest');
    is($r->{json}{gross_minor}, -($inv->{gross_minor} - 12100), 'exactly what was not credited');
    is($r->{json}{refund_minor}, $inv->{gross_minor} - 12100, 'paid already: owed back to the client');
    is($r->{json}{lines}[0]{net_minor}, -20000, 'two of three left');
    $i = must(call(GET => "/invoices/$inv->{id}", $ae), 200, 'original');
    is($i->{status}, 'credited', 'credited in full');
    problem(call(POST => "/invoices/$inv->{id}/credit-notes", $ae, { reason => 'again' }), 409, 'conflict', 'nothing left to credit');
    problem(call(POST => "/invoices/$r->{json}{id}/credit-notes", $ae, { reason => 'x' }), 409, 'conflict', 'a credit note is not credited');
    problem(call(POST => "/invoices/$r->{json}{id}/payments", $ae, { amount_minor => 1 }), 409, 'conflict', 'nor paid');
    my $cns = must(call(GET => "/invoices?credit_of_id=$inv->{id}", $ae), 200, 'list');
    is(scalar @{ $cns->{items} }, 2, 'GET /invoices?credit_of_id');
    is(must(call(GET => "/invoices?kind=credit_note&client_id=$c->{id}", $ae), 200, 'kind')->{items}[0]{kind}, 'credit_note', 'kind filter');
    ok(verify()->{intact}, 'the credit note series chains too');
}

# === a foreign currency: VAT stated in RON at a rate ===================================================
{
    my $eur = must(call(POST => '/price-lists', $adm, { name => 'EUR', currency => 'EUR' }), 201, 'EUR list');
    must(call(POST => "/price-lists/$eur->{id}/items", $adm, { product_id => $d->product('std'), unit_price_minor => 2000 }), 201, 'EUR price');
    my $ce = $d->client($ae, name => 'Euro GmbH', currency => 'EUR', country => 'DE');
    must(call(PATCH => "/clients/$ce->{id}", $adm, { price_list_id => $eur->{id} }), 200, 'client list');
    my $o = order_of([[std => 3]], $ce);
    is($o->{currency}, 'EUR', 'an order in EUR');
    my $dr = $d->ok_call(POST => '/invoices', $ae, { order_id => $o->{id} }, 201);
    invalid(call(POST => "/invoices/$dr->{id}/issue", $ae, {}), 422, 'validation', ['#/exchange_rate'], 'the rate is required');
    invalid(call(POST => "/invoices/$dr->{id}/issue", $ae, { exchange_rate => '4,97' }), 422, 'validation', ['#/exchange_rate'],
            'a rate written wrong');
    my $r = call(POST => "/invoices/$dr->{id}/issue", $ae, { exchange_rate => '4.9771' });
    is($r->{status}, 200, 'issued with a rate');
    my $i = $r->{json};
    is($i->{vat_minor}, 1260, '21 % of 60.00 EUR = 12.60 EUR');
    is($i->{exchange_rate}, '4.9771', 'the rate kept as given');
    is($i->{vat_ron_minor}, 6271, '12.60 EUR x 4.9771 = 62.71 RON');
    is($i->{vat}[0]{vat_ron_minor}, 6271, 'per rate too');
    my $doc = call(GET => "/invoices/$i->{id}/document", $ae);
    like($doc->{content}, qr/62,71 RON/, 'the document states the VAT in RON');
    like($doc->{content}, qr/curs 4\.9771/, 'and the rate');
    my $cn = must(call(POST => "/invoices/$i->{id}/credit-notes", $ae, { reason => 'storno' }), 201, 'credit note');
    is($cn->{exchange_rate}, '4.9771', "a credit note keeps the original's rate");
}

# === the document ===========================================================================================
{
    my $inv = $order->{invoices}[1];
    must(call(PATCH => "/clients/$c->{id}", $ae, { name => 'Nume Nou SRL' }), 200, 'rename the client');
    my $doc = call(GET => "/invoices/$inv->{id}/document", $ae);
    is($doc->{status}, 200, 'document');
    like($doc->{headers}{'content-type'} // '', qr{^text/html}, 'HTML');
    like($doc->{content}, qr/Factură \Q$inv->{number}\E/, 'its number');
    like($doc->{content}, qr/Facturat SRL/, 'the client as it was when the invoice was issued');
    unlike($doc->{content}, qr/Nume Nou SRL/, 'not as it is now');
    like($doc->{content}, qr/Scadența: 2027-01-09/, 'the due date');
    my $dr = $d->ok_call(POST => '/invoices', $ae, { order_id => order_of([[std => 1]])->{id} }, 201);
    like(call(GET => "/invoices/$dr->{id}/document", $ae)->{content}, qr/ciornă.*Nume Nou SRL/s, 'a draft shows the client now');
}

# === drafts: edited, deleted ==================================================================================
{
    my $o = order_of([[std => 2], [red => 2]]);
    my $dr = $d->ok_call(POST => '/invoices', $ae, { order_id => $o->{id} }, 201);
    my $r = call(PATCH => "/invoices/$dr->{id}", $ae, { payment_terms_days => 7, notes => 'urgent',
                                                      lines => [{ order_line_id => $o->{lines}[1]{id}, quantity => 1 }] });
    is($r->{status}, 200, 'PATCH a draft');
    is(scalar @{ $r->{json}{lines} }, 1, 'lines chosen again');
    is($r->{json}{payment_terms_days}, 7, 'its own terms');
    invalid(call(PATCH => "/invoices/$dr->{id}", $ae, { order_id => 1, due_date => 'x' }), 422, 'validation',
            ['#/due_date', '#/order_id'], 'the order cannot change; a bad date');
    my $i = must(call(POST => "/invoices/$dr->{id}/issue", $ae, {}), 200, 'issue');
    is($i->{due_date}, '2026-12-21', 'due after its own 7 days');
    my $dr2 = $d->ok_call(POST => '/invoices', $ae, { order_id => $o->{id}, due_date => '2026-12-01' }, 201);
    invalid(call(POST => "/invoices/$dr2->{id}/issue", $ae, {}), 422, 'validation', ['#/due_date'], 'due before it is issued');
    is(call(DELETE => "/invoices/$dr2->{id}", $ae)->{status}, 204, 'a draft is deleted');
    is(call(GET => "/invoices/$dr2->{id}", $ae)->{status}, 404, 'gone');
    is($t->sql("select count(*) from audit_log where object_type = 'invoice' and object_id = $dr2->{id} and action = 'delete'"), 1,
       'audited');
    invalid(call(POST => '/invoices', $ae, { order_id => $o->{id}, proposal_id => 1 }), 422, 'validation', ['#/proposal_id'],
            'one source only');
    invalid(call(POST => '/invoices', $ae, {}), 422, 'validation', ['#/order_id'], 'a source is required');
    invalid(call(POST => '/invoices', $ae, { order_id => 999999 }), 422, 'validation', ['#/order_id'], 'no such order');
    my $draft_order = $d->ok_call(POST => '/orders', $ae, { client_id => $c->{id}, lines => $d->lines([[std => 1]]) }, 201);
    problem(call(POST => '/invoices', $ae, { order_id => $draft_order->{id} }), 409, 'conflict', 'a draft order is not invoiced');
}

# === who sees what ================================================================================================
{
    my $inv = $order->{invoices}[1];
    for my $req ([GET => "/invoices/$inv->{id}"], [POST => "/invoices/$inv->{id}/issue", {}],
                 [POST => "/invoices/$inv->{id}/payments", { amount_minor => 1 }],
                 [GET => "/invoices/$inv->{id}/payments"], [POST => "/invoices/$inv->{id}/credit-notes", { reason => 'x' }],
                 [GET => "/invoices/$inv->{id}/document"], [PATCH => "/invoices/$inv->{id}", {}], [DELETE => "/invoices/$inv->{id}"]) {
        my ($m, $path, $body) = @$req;
        is(call($m, $path, $ae2, $body)->{status}, 404, "another AE: $m $path is 404");
    }
    is(scalar @{ must(call(GET => '/invoices', $ae2), 200, 'list')->{items} }, 0, 'another AE lists none');
    is(scalar @{ must(call(GET => '/payments', $ae2), 200, 'list')->{items} }, 0, 'nor payments');
    ok(scalar @{ must(call(GET => "/invoices?owner=team", $mgr), 200, 'team')->{items} }, 'the manager sees the team\'s');
    is(call(POST => '/invoices', $ae2, { order_id => $order->{id} })->{status}, 422, "another AE's order is not theirs to invoice");
}

$t->stop;
done_testing;
