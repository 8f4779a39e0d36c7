# The seed's three workflows end to end, the flow rule (no invoice skips
# the order when a contract is involved), the chain of every document both
# ways, the client's history, the events, the overdue sweep, and loyalty
# levels from paid revenue net of credit notes.
use strict;
use warnings;
use utf8;
use Test::More;
use lib 't/lib';
use SalesTest;
use SalesDocs;
use Time::HiRes qw(sleep time);

my $t   = SalesTest->new(http_extra => 'sales_webhook_poll 100ms;');
my $adm = $t->{admin};
my $d   = SalesDocs->new($t);
my $ae  = $t->user('ae');
my $ae2 = $t->user('ae');
$d->{now} = '2026-12-10T09:00:00Z';
my $J = $SalesTest::JSON;

sub call { $d->call(@_) }
sub at { my ($now, $code) = @_; local $d->{now} = $now; $code->() }
sub outbox_types {
    my ($from) = @_;
    return [split /\n/, $t->sql("select type from outbox where id > $from order by id") // ''];
}
sub mark { $t->sql('select coalesce(max(id), 0) from outbox') }
sub chain_set {
    my ($type, $id, $who) = @_;
    my $c = must(call(GET => "/chain/$type/$id", $who // $ae), 200, "chain of $type $id");
    return join ' ', sort map { "$_->{type}:$_->{id}" } @{ $c->{documents} };
}

# === workflow 1: opportunity to invoice ==========================================================
{
    my $c = $d->client($ae, name => 'Standard SRL');
    my $m = mark();
    my $opp = $d->opportunity($ae, $c, value_minor => 62197);
    my $p = $d->accepted_proposal($ae, $c, [[std => 3], [red => 7]], opportunity => $opp);
    my $o = $d->order_from($ae, $p);
    my $inv = $d->invoice($ae, $o);
    my $pay = must(call(POST => "/invoices/$inv->{id}/payments", $ae, { amount_minor => $inv->{gross_minor} }), 201, 'paid');

    my @types = @{ outbox_types($m) };
    my @want = qw(proposal.created proposal.sent proposal.accepted order.created proposal.converted order.confirmed
                  invoice.issued payment.received invoice.paid order.completed);
    my @got = grep { /^(proposal|order|invoice|payment)\./ } @types;
    is_deeply(\@got, \@want, 'the events of workflow 1, in order') or diag("@types");
    my $won = $t->sql("select count(*) from outbox where type = 'opportunity.stage_changed' and subject_id = $opp->{id}"
                    . " and json_extract(payload, '\$.data.to') = 'won'");
    is($won, 1, 'and opportunity.stage_changed to won when the order is confirmed');
    is(must(call(GET => "/orders/$o->{id}", $ae), 200, 'order')->{status}, 'completed', 'the order is completed');
    is(must(call(GET => "/opportunities/$opp->{id}", $ae), 200, 'opp')->{stage}, 'won', 'the deal is won');

    my $set = chain_set(payment => $pay->{id});
    is($set, join(' ', sort "opportunity:$opp->{id}", "proposal:$p->{id}", "order:$o->{id}", "invoice:$inv->{id}",
                  "payment:$pay->{id}"), 'the chain from the payment back to the opportunity');
    is(chain_set(opportunity => $opp->{id}), $set, 'and from the opportunity forward: the same');
    my $ch = must(call(GET => "/chain/order/$o->{id}", $ae), 200, 'chain');
    is_deeply([map { $_->{type} } @{ $ch->{documents} }], [qw(opportunity proposal order invoice payment)],
              'documents in the order of the deal');
    my %rel = map { ("$_->{from}{type}>$_->{to}{type}", $_->{relation}) } @{ $ch->{links} };
    is($rel{'proposal>order'}, 'converted_to', 'proposal converted to the order');
    is($rel{'order>invoice'}, 'invoice', 'order invoiced');
    is($rel{'invoice>payment'}, 'payment', 'invoice paid');
    is($ch->{root}{type}, 'order', 'the root');
    is(call(GET => "/chain/order/$o->{id}", $ae2)->{status}, 404, "another AE: the chain is 404");
    is(call(GET => "/chain/invoice/999999", $ae)->{status}, 404, 'no such document');
    is(call(GET => "/chain/credit_note/$inv->{id}", $ae)->{status}, 404, 'an invoice is not a credit note');

    my $h = must(call(GET => "/clients/$c->{id}/history?limit=200", $ae), 200, 'history');
    my %kinds = map { $_->{kind} => 1 } @{ $h->{items} };
    ok($kinds{$_}, "the client's history has $_") for qw(proposal.created order.created order.confirmed invoice.issued payment.received);
}

# === workflow 2: complex deal with proforma, advance, contract ======================================
{
    my $c = $d->client($ae, name => 'Complex SA');
    my $opp = $d->opportunity($ae, $c, value_minor => 1500000);
    my $p = $d->accepted_proposal($ae, $c, [[std => 120], [red => 30]], opportunity => $opp);
    my $pf = $d->ok_call(POST => '/proformas', $ae, { proposal_id => $p->{id}, basis => 'percent', percent_bp => 4000 }, 201);
    $d->ok_call(POST => "/proformas/$pf->{id}/issue", $ae);
    my $paid = $d->ok_call(POST => "/proformas/$pf->{id}/payments", $ae, {}, 201);
    my $adv = $paid->{advance_invoice};

    # The contract is created from the proposal before the order exists.
    my $ct = $d->ok_call(POST => '/contracts', $ae, { proposal_id => $p->{id}, title => 'Contract de servicii',
                                                    start_date => '2027-01-01', end_date => '2027-12-31' }, 201);
    my $r = call(POST => '/invoices', $ae, { proposal_id => $p->{id} });
    problem($r, 409, 'conflict', 'an invoice straight from the proposal is refused when a contract is involved');
    like($r->{json}{detail} // '', qr/Proposal → Sales Order → Contract → Invoice/, 'the error names the correct flow');

    my $o = $d->order_from($ae, $p);
    $r = call(POST => '/invoices', $ae, { order_id => $o->{id} });
    problem($r, 409, 'conflict', 'the order is not invoiced while its contract is unsigned');
    like($r->{json}{detail} // '', qr/\Q$ct->{number}\E.*Proposal → Sales Order → Contract → Invoice/, 'naming the contract and the flow');
    $d->ok_call(POST => "/contracts/$ct->{id}/send", $ae, {});
    $d->ok_call(POST => "/contracts/$ct->{id}/sign", $ae, { signed_by => 'Ion Popescu, director general' });

    my $final = $d->invoice($ae, $o);
    is($final->{gross_minor} + $adv->{gross_minor}, $o->{gross_minor}, 'the final invoice plus the advance equal the order');
    my $set = chain_set(invoice => $final->{id});
    for my $x ("opportunity:$opp->{id}", "proposal:$p->{id}", "proforma:$pf->{id}", "invoice:$adv->{id}", "order:$o->{id}",
               "contract:$ct->{id}", "invoice:$final->{id}", "payment:$paid->{payment}{id}") {
        like($set, qr/\b\Q$x\E\b/, "the chain of the final invoice holds $x");
    }
    for my $from (["proforma", $pf->{id}], ["contract", $ct->{id}], ["payment", $paid->{payment}{id}], ["proposal", $p->{id}]) {
        is(chain_set(@$from), $set, "the same chain from the $from->[0]");
    }
    my $cn = $d->ok_call(POST => "/invoices/$final->{id}/credit-notes", $ae, { reason => 'error' }, 201);
    like(chain_set(order => $o->{id}), qr/\bcredit_note:$cn->{id}\b/, 'a credit note joins the chain');
    my $ch = must(call(GET => "/chain/credit_note/$cn->{id}", $ae), 200, 'chain');
    ok((grep { $_->{relation} eq 'deducted_by' && $_->{from}{id} == $adv->{id} } @{ $ch->{links} }),
       'the advance is linked to the final invoice that deducted it');
}

# === workflow 3: a repeat order straight to a sales order ===========================================
{
    my $c = $d->client($ae, name => 'Fidel SRL');
    my $o1 = $d->ok_call(POST => '/orders', $ae, { client_id => $c->{id}, lines => $d->lines([[std => 5]]) }, 201);
    $d->ok_call(POST => "/orders/$o1->{id}/confirm", $ae);
    $d->invoice($ae, $o1);
    my $bought = must(call(GET => "/clients/$c->{id}/purchases", $ae), 200, 'purchases');
    is($bought->{items}[0]{quantity}, 5, 'what the client bought before');
    my $price = must(call(GET => "/prices?client_id=$c->{id}&product_id=" . $d->product('std') . '&quantity=5', $ae), 200, 'price');
    my $o2 = $d->ok_call(POST => '/orders', $ae, { client_id => $c->{id}, lines => $d->lines([[std => 5]]) }, 201);
    is($o2->{net_minor}, $price->{net_minor}, "the repeat order at the client's price");
    $d->ok_call(POST => "/orders/$o2->{id}/confirm", $ae);
    my $inv = $d->invoice($ae, $o2);
    is($inv->{gross_minor}, $o2->{gross_minor}, 'confirm, invoice');
    is(chain_set(order => $o2->{id}), "invoice:$inv->{id} order:$o2->{id}", 'a chain of order and invoice alone');
}

# === an invoice straight from a proposal, when no contract is involved ================================
{
    my $c = $d->client($ae, name => 'Direct SRL');
    my $p = $d->accepted_proposal($ae, $c, [[std => 2]]);
    my $dr = $d->ok_call(POST => '/invoices', $ae, { proposal_id => $p->{id} }, 201);
    is($dr->{proposal_id}, $p->{id}, 'a draft from the proposal');
    is(must(call(GET => "/proposals/$p->{id}", $ae), 200, 'p')->{status}, 'converted', 'the proposal is converted by it');
    problem(call(POST => '/invoices', $ae, { proposal_id => $p->{id} }), 409, 'conflict', 'once only');
    is(call(DELETE => "/invoices/$dr->{id}", $ae)->{status}, 204, 'the draft deleted');
    is(must(call(GET => "/proposals/$p->{id}", $ae), 200, 'p')->{status}, 'accepted', 'the proposal is accepted again');
    invalid(call(POST => '/invoices', $ae, { proposal_id => $p->{id}, lines => [] }), 422, 'validation', ['#/lines'],
            'a proposal is invoiced whole');
    $dr = $d->ok_call(POST => '/invoices', $ae, { proposal_id => $p->{id} }, 201);
    my $inv = $d->ok_call(POST => "/invoices/$dr->{id}/issue", $ae, {});
    is($inv->{gross_minor}, $p->{gross_minor}, 'issued for the whole proposal');
    is(chain_set(proposal => $p->{id}), join(' ', sort "proposal:$p->{id}", "opportunity:$p->{opportunity_id}", "invoice:$inv->{id}"),
       'its chain');
    my $bought = must(call(GET => "/clients/$c->{id}/purchases", $ae), 200, 'purchases');
    is($bought->{items}[0]{quantity}, 2, 'an invoice straight from a proposal counts as bought');
}

# === loyalty from paid revenue, net of credit notes ======================================================
{
    my $silver = must(call(POST => '/loyalty/levels', $adm, { name => 'Silver', threshold_minor => 50000, discount_bp => 300 }), 201, 'silver');
    my $gold = must(call(POST => '/loyalty/levels', $adm, { name => 'Gold', threshold_minor => 100000, discount_bp => 500 }), 201, 'gold');
    my $c = $d->client($ae, name => 'Loial SRL');
    my $o = $d->ok_call(POST => '/orders', $ae, { client_id => $c->{id}, lines => $d->lines([[std => 10]]) }, 201);
    $d->ok_call(POST => "/orders/$o->{id}/confirm", $ae);
    my $inv = $d->invoice($ae, $o);
    is($inv->{gross_minor}, 121000, '1,210.00 to pay');
    my $l = must(call(GET => "/clients/$c->{id}/loyalty", $ae), 200, 'loyalty');
    is($l->{paid_revenue_12m_minor}, 0, 'issued is not paid: no revenue yet');

    must(call(POST => "/invoices/$inv->{id}/payments", $ae, { amount_minor => 60000 }), 201, 'pay 600.00');
    $l = must(call(GET => "/clients/$c->{id}/loyalty", $ae), 200, 'loyalty');
    is($l->{paid_revenue_12m_minor}, 60000, 'paid revenue 600.00');
    is($l->{level}{id}, $silver->{id}, 'the payment earns Silver at once');
    ok(!$l->{set_by_hand}, 'earned, not set by hand');
    is($t->sql("select count(*) from outbox where type = 'client.updated' and subject_id = $c->{id}"
             . " and json_extract(payload, '\$.data.reason') like 'paid revenue%'"), 1, 'client.updated says why');

    must(call(POST => "/invoices/$inv->{id}/payments", $ae, { amount_minor => 61000 }), 201, 'pay the rest');
    is(must(call(GET => "/clients/$c->{id}/loyalty", $ae), 200, 'l')->{level}{id}, $gold->{id}, '1,210.00: Gold');

    my $cn = must(call(POST => "/invoices/$inv->{id}/credit-notes", $ae,
                       { reason => 'returned', lines => [{ invoice_line_id => $inv->{lines}[0]{id}, quantity => 4 }] }), 201, 'cn');
    is($cn->{refund_minor}, 48400, 'four returned after payment: 484.00 owed back');
    $l = must(call(GET => "/clients/$c->{id}/loyalty", $ae), 200, 'loyalty');
    is($l->{paid_revenue_12m_minor}, 121000 - 48400, 'revenue net of the credit note: 726.00');
    is($l->{level}{id}, $silver->{id}, 'back to Silver');

    at('2027-12-11T09:00:00Z', sub {
        is(must(call(GET => "/clients/$c->{id}/loyalty", $ae), 200, 'l')->{paid_revenue_12m_minor}, 0,
           'a year later the payments are outside the 12 months');
    });

    # A level set by hand is not lowered by the rule.
    my $c2 = $d->client($ae, name => 'Favorit SRL');
    must(call(PUT => "/clients/$c2->{id}/loyalty", $adm, { level_id => $gold->{id} }), 200, 'Gold by hand');
    my $o2 = $d->ok_call(POST => '/orders', $ae, { client_id => $c2->{id}, lines => $d->lines([[std => 1]]) }, 201);
    $d->ok_call(POST => "/orders/$o2->{id}/confirm", $ae);
    my $i2 = $d->invoice($ae, $o2);
    must(call(POST => "/invoices/$i2->{id}/payments", $ae, { amount_minor => $i2->{gross_minor} }), 201, 'paid');
    $l = must(call(GET => "/clients/$c2->{id}/loyalty", $ae), 200, 'loyalty');
    is($l->{level}{id}, $gold->{id}, 'a level set by hand stays although the revenue earns less');
    ok($l->{set_by_hand}, 'set_by_hand');
}

# === the overdue sweep: invoice.overdue once per invoice ===================================================
{
    my $c = $d->client($ae, name => 'Întârziat SRL');
    my ($late, $paid);
    at('2020-03-02T09:00:00Z', sub {
        my $o = $d->ok_call(POST => '/orders', $ae, { client_id => $c->{id}, lines => $d->lines([[std => 1], [red => 1]]) }, 201);
        $d->ok_call(POST => "/orders/$o->{id}/confirm", $ae);
        $late = $d->invoice($ae, $o, [[$o->{lines}[0]{id}, 1]]);
        $paid = $d->invoice($ae, $o);
        must(call(POST => "/invoices/$paid->{id}/payments", $ae, { amount_minor => $paid->{gross_minor} }), 201, 'paid');
    });
    is($late->{due_date}, '2020-04-01', 'due in 2020');
    # The sweep runs at a pool thread's first cycle, with the real clock.
    $t->reload;
    my $n = 0;
    my $deadline = time + 15;
    while (time < $deadline) {
        $n = $t->sql("select count(*) from outbox where type = 'invoice.overdue' and subject_id = $late->{id}");
        last if $n;
        sleep 0.2;
    }
    is($n, 1, 'invoice.overdue for the unpaid invoice past its due date');
    my $ev = $J->decode($t->sql("select payload from outbox where type = 'invoice.overdue' and subject_id = $late->{id}"));
    is($ev->{data}{invoice}{number}, $late->{number}, 'naming it');
    cmp_ok($ev->{data}{days_overdue}, '>', 365, 'and how late');
    is($t->sql("select count(*) from outbox where type = 'invoice.overdue' and subject_id = $paid->{id}"), 0, 'none for the paid one');
    $t->reload;
    sleep 2;
    is($t->sql("select count(*) from outbox where type = 'invoice.overdue' and subject_id = $late->{id}"), 1, 'and only once');
}

$t->stop;
done_testing;
